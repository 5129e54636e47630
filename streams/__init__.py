"""Kafka side: event contracts, broker launcher, topics, Faust app, simulator."""
