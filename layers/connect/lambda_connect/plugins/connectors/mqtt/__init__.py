"""MQTT source and sink (Confluent's ``MqttSourceConnector`` / ``MqttSinkConnector``) on paho-mqtt."""
