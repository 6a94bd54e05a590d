"""lambda-connect: Kafka Connect as serverless functions."""

__version__ = "0.1.0"
