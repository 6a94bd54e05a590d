"""The engine between Kafka bytes and plugins; knows no AWS and no event shapes.

Modules (import them directly; this package imports nothing, to keep cold start cheap):

* ``registry``         plugin names and Kafka-style aliases → classes, imported lazily
* ``connector_config`` the connector-level ConfigDefs (common, sink, source)
* ``validation``       effective definition, Kafka's ConfigInfos, ``parse_connector_config``
* ``chain``            the transformation chain with predicates
* ``conversion``       key/value/header converters in Kafka's stage order
* ``errors``           ``Stage``, ``StageError`` and the ``errors.*`` retry/tolerance policy
* ``config_providers`` ``${env:...}``, ``${file:...}``, ``${secretsmanager:...}``, ``${ssm:...}``
"""
