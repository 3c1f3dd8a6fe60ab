"""Realistic demo traffic for the sample service, so dashboards fill at once."""
