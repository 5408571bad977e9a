"""Reconciliation: the daily census that repairs drift, webhook upkeep and polling."""
