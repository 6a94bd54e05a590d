"""RabbitMQ source and sink (Confluent's ``RabbitMQSourceConnector`` / ``RabbitMQSinkConnector``) on pika."""
