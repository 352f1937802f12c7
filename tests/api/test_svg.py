"""SVG icon sanitising (docs/security.md): a battery of hostile icons, all refused; good
ones kept."""

from __future__ import annotations

import pytest

from jobdeck.domain.svg import sanitize_svg
from jobdeck.errors import ValidationError

NS = 'xmlns="http://www.w3.org/2000/svg"'
XLINK = 'xmlns:xlink="http://www.w3.org/1999/xlink"'

HOSTILE = {
    "script": (f"<svg {NS}><script>alert(1)</script></svg>", "script"),
    "script in g": (f"<svg {NS}><g><script href='x.js'/></g></svg>", "script"),
    "onload": (f'<svg {NS} onload="alert(1)"/>', "onload"),
    "onclick on path": (f'<svg {NS}><path d="M0 0" onclick="x()"/></svg>', "onclick"),
    "ONMOUSEOVER caps": (f'<svg {NS}><rect ONMOUSEOVER="x()"/></svg>', "ONMOUSEOVER"),
    "foreignObject": (
        f'<svg {NS}><foreignObject><body xmlns="http://www.w3.org/1999/xhtml">'
        '<img src="x" onerror="alert(1)"/></body></foreignObject></svg>',
        "foreignObject",
    ),
    "javascript: href": (f'<svg {NS}><use href="javascript:alert(1)"/></svg>', "javascript"),
    "xlink javascript": (
        f'<svg {NS} {XLINK}><use xlink:href="javascript:alert(1)"/></svg>',
        "javascript",
    ),
    "javascript with tab": (
        f'<svg {NS} {XLINK}><use xlink:href="java&#9;script:alert(1)"/></svg>',
        "javascript",
    ),
    "external use": (
        f'<svg {NS} {XLINK}><use xlink:href="https://evil.example/x.svg#a"/></svg>',
        "external reference",
    ),
    "external use plain href": (
        f'<svg {NS}><use href="//evil.example/s.svg#a"/></svg>',
        "external",
    ),
    "image": (f'<svg {NS}><image href="https://evil.example/track.png"/></svg>', "image"),
    "data image": (f'<svg {NS}><image href="data:image/svg+xml;base64,PHN2Zz4="/></svg>', "image"),
    "anchor": (f'<svg {NS}><a href="https://evil.example"><rect/></a></svg>', "link"),
    "style element": (f"<svg {NS}><style>rect{{fill:url(https://x)}}</style></svg>", "style"),
    "style attribute": (f'<svg {NS}><rect style="fill:red"/></svg>', "style"),
    "fill url external": (f'<svg {NS}><rect fill="url(https://evil.example/a#b)"/></svg>', "url"),
    "mask url external": (f'<svg {NS}><g mask="url(evil.svg#m)"/></svg>', "url"),
    "expression": (f'<svg {NS}><rect fill="expression(alert(1))"/></svg>', "expression"),
    "xxe": (
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        f"<svg {NS}><title>&xxe;</title></svg>",
        "DTD",
    ),
    "billion laughs": (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        f"<svg {NS}><title>&lol3;</title></svg>",
        "DTD",
    ),
    "plain doctype": (f'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x.dtd"><svg {NS}/>', "DTD"),
    "oversize": (f"<svg {NS}><desc>{'a' * 33_000}</desc></svg>", "32 KiB"),
    "too many elements": (f"<svg {NS}>" + "<g/>" * 2001 + "</svg>", "2000 elements"),
    "too deep": (f"<svg {NS}>" + "<g>" * 100 + "</g>" * 100 + "</svg>", "deeper"),
    "xhtml root": ('<html xmlns="http://www.w3.org/1999/xhtml"><script/></html>', "namespace"),
    "not svg root": ("<div/>", "root"),
    "xhtml element inside": (
        f'<svg {NS}><h:script xmlns:h="http://www.w3.org/1999/xhtml"/></svg>',
        "namespace",
    ),
    "animate to javascript": (
        f'<svg {NS}><animate attributeName="href" to="javascript:alert(1)"/></svg>',
        "animation",
    ),
    "set element": (f'<svg {NS}><set attributeName="onload" to="alert(1)"/></svg>', "animation"),
    "iframe": (f'<svg {NS}><iframe src="https://evil.example"/></svg>', "iframe"),
    "unknown attribute": (f'<svg {NS}><rect data-x="1" formaction="x"/></svg>', "not allowed"),
    "foreign namespaced attribute": (
        f'<svg {NS} xmlns:e="urn:evil"><rect e:onload="x"/></svg>',
        "namespace",
    ),
    "not xml": ("<svg <<", "well-formed"),
    "empty": ("", "well-formed"),
    "not a string": (b"<svg/>", "string"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_icon_is_refused_with_its_reason(name: str) -> None:
    text, reason = HOSTILE[name]
    with pytest.raises(ValidationError) as info:
        sanitize_svg(text)
    assert reason.lower() in info.value.message.lower(), info.value.message


def test_battery_is_large() -> None:
    assert len(HOSTILE) >= 20


SEED_ICON = """
    <svg xmlns="http://www.w3.org/2000/svg" width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2">
      <path d="M21 16V8a2 2 0 0 0-1-1.73l-7-4a2 2 0 0 0-2 0l-7 4A2 2 0 0 0 3 8v8a2 2 0 0 0 1 1.73l7 4a2 2 0 0 0 2 0l7-4A2 2 0 0 0 21 16z"/>
    </svg>
"""  # noqa: E501


def test_seed_icon_is_kept_and_reserialised() -> None:
    out = sanitize_svg(SEED_ICON)
    assert out.startswith('<svg xmlns="http://www.w3.org/2000/svg" width="20"')
    assert 'stroke-width="2"' in out and "<path d=" in out and out.endswith("</svg>")
    assert sanitize_svg(out) == out  # idempotent


def test_gradients_local_references_and_text_survive() -> None:
    icon = (
        f'<svg {NS} {XLINK} viewBox="0 0 10 10"><title>A &amp; B &lt;ok&gt;</title>'
        '<defs><linearGradient id="g1"><stop offset="0" stop-color="#fff"/></linearGradient>'
        '<clipPath id="c"><circle cx="5" cy="5" r="5"/></clipPath>'
        '<symbol id="s"><rect width="1" height="1"/></symbol></defs>'
        '<rect fill="url(#g1)" clip-path="url( \'#c\' )" width="10" height="10"/>'
        '<use xlink:href="#s"/><use href="#s"/>'
        '<polygon points="0,0 1,1 1,0"/><ellipse rx="1" ry="2"/>'
        '<polyline points="0 0 1 1"/><line x1="0" y1="0" x2="1" y2="1"/></svg>'
    )
    out = sanitize_svg(icon)
    assert "<title>A &amp; B &lt;ok&gt;</title>" in out
    assert 'xmlns:xlink="http://www.w3.org/1999/xlink"' in out
    assert 'xlink:href="#s"' in out and 'href="#s"' in out
    assert 'fill="url(#g1)"' in out


def test_comments_and_processing_instructions_are_dropped() -> None:
    out = sanitize_svg(f'<?xml version="1.0"?><svg {NS}><!-- <script> --><?php x ?><g/></svg>')
    assert out == f"<svg {NS}><g/></svg>"


def test_attribute_values_are_escaped_on_output() -> None:
    out = sanitize_svg(f'<svg {NS}><desc>"quoted"</desc><rect id="a&quot;b"/></svg>')
    assert 'id="a&quot;b"' in out
