"""Which addresses an image_url may point to, and how numeric hosts are read (pure functions, no network)."""

import ipaddress

import pytest

from airelay.images.fetch import UrlRefused, address_refusal, numeric_host, parse_target


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.255.254",
        "10.0.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.0.1",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.251",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "198.18.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "ff02::1",
        "fec0::1",
        "2001:db8::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::1",
        "2002:a9fe:a9fe::1",
        "64:ff9b::a9fe:a9fe",
    ],
)
def test_internal_addresses_are_refused(address):
    assert address_refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("10.0x1.0.1", "10.1.0.1"),
        ("192.0250.1", "192.168.0.1"),
        ("3232235777", "192.168.1.1"),
        ("0", "0.0.0.0"),
    ],
)
def test_numeric_hosts_in_any_spelling_name_their_address(host, address):
    assert numeric_host(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["example.com", "images.test", "1.2.3.example", "0x7g.1"])
def test_names_are_not_numeric(host):
    assert numeric_host(host) is None


@pytest.mark.parametrize("host", ["256.0.0.1", "1.2.3.4.5", "4294967296", "08.0.0.1"])
def test_impossible_numbers_are_refused(host):
    if host == "1.2.3.4.5":
        assert numeric_host(host) is None  # five labels: a name, which then has to resolve
    else:
        with pytest.raises(UrlRefused):
            numeric_host(host)


def test_the_target_keeps_the_name_for_host_and_sni_and_pins_the_address():
    target = parse_target("https://Images.Example.COM./a/b.png?x=1#frag")
    assert (target.host, target.port, target.path) == ("images.example.com", 443, "/a/b.png?x=1")
    assert target.host_header == "images.example.com"
    assert target.pinned(ipaddress.ip_address("2606:4700::1")) == "https://[2606:4700::1]:443/a/b.png?x=1"
    assert parse_target("http://[::1]:8080/").host_header == "[::1]:8080"


@pytest.mark.parametrize(
    "url", ["http://user@example.com/a.png", "http://:secret@example.com/a.png", "https://u:p@example.com/a.png"]
)
def test_urls_carrying_any_credentials_are_refused(url):
    with pytest.raises(UrlRefused, match="credentials"):
        parse_target(url)


@pytest.mark.parametrize(
    "url", ["http://example.com/a\x01.png", "http://example.com/a.png?x=\x7f", "http://exa\tmple.com/"]
)
def test_urls_holding_control_characters_are_refused(url):
    with pytest.raises(UrlRefused, match="control character"):
        parse_target(url)
