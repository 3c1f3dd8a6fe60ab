"""X-Forwarded-For is believed only as far as trusted proxies vouch for it."""

import ipaddress

from flask_logstash.request_context import client_ip

PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)


def test_untrusted_peer_header_is_ignored():
    assert client_ip("198.51.100.1", "1.2.3.4", PROXIES) == "198.51.100.1"


def test_trusted_peer_gives_rightmost_untrusted_hop():
    assert client_ip("10.0.0.5", "6.6.6.6, 1.2.3.4, 10.0.0.9", PROXIES) == "1.2.3.4"


def test_all_hops_trusted_gives_leftmost():
    assert client_ip("10.0.0.5", "10.1.1.1, 10.0.0.9", PROXIES) == "10.1.1.1"


def test_malformed_hop_stops_the_walk():
    assert client_ip("10.0.0.5", "1.2.3.4, garbage", PROXIES) == "10.0.0.5"


def test_no_proxies_configured_uses_peer():
    assert client_ip("10.0.0.5", "1.2.3.4", ()) == "10.0.0.5"
