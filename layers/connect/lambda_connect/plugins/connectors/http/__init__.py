"""HTTP sink: Kafka records as HTTP requests to a web service (Confluent's ``HttpSinkConnector``)."""
