"""ClickHouse side: schema migrations, backends (chDB, server), sink and range queries."""
