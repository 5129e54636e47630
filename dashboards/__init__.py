"""Grafana dashboards, provisioning and alert rules, generated from code."""
