"""SVG icon sanitising (docs/security.md): parse, check against an allowlist, re-serialise.

The output is written from the parsed tree, never copied from the input, so
anything the parser accepted but the allowlist does not name cannot reach a
browser. The UI shows icons through ``<img>`` and the icon endpoint adds a
restrictive CSP; this module is the first of those three layers.
"""

from __future__ import annotations

import re
from typing import NoReturn
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from jobdeck.errors import ValidationError

MAX_BYTES = 32 * 1024
MAX_ELEMENTS = 2000
MAX_DEPTH = 64

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"

ELEMENTS = frozenset(
    {
        "svg",
        "g",
        "path",
        "circle",
        "ellipse",
        "line",
        "polyline",
        "polygon",
        "rect",
        "title",
        "desc",
        "defs",
        "symbol",
        "use",
        "linearGradient",
        "radialGradient",
        "stop",
        "clipPath",
        "mask",
    }
)

# Named so the error says why, rather than a generic "not allowed".
FORBIDDEN_ELEMENTS = {
    "script": "script elements are not allowed",
    "foreignObject": "foreignObject is not allowed",
    "style": "style elements are not allowed",
    "image": "image elements are not allowed (external reference)",
    "a": "links are not allowed",
    "iframe": "iframe is not allowed",
    "animate": "animation elements are not allowed",
    "set": "animation elements are not allowed",
    "animateTransform": "animation elements are not allowed",
    "animateMotion": "animation elements are not allowed",
    "feImage": "feImage is not allowed (external reference)",
}

ATTRIBUTES = frozenset(
    {
        "id",
        "class",
        "role",
        "aria-hidden",
        "aria-label",
        "focusable",
        "version",
        "width",
        "height",
        "x",
        "y",
        "x1",
        "y1",
        "x2",
        "y2",
        "cx",
        "cy",
        "r",
        "rx",
        "ry",
        "fx",
        "fy",
        "fr",
        "d",
        "points",
        "pathLength",
        "viewBox",
        "preserveAspectRatio",
        "transform",
        "fill",
        "fill-opacity",
        "fill-rule",
        "stroke",
        "stroke-width",
        "stroke-linecap",
        "stroke-linejoin",
        "stroke-miterlimit",
        "stroke-dasharray",
        "stroke-dashoffset",
        "stroke-opacity",
        "opacity",
        "color",
        "display",
        "visibility",
        "clip-path",
        "clip-rule",
        "mask",
        "offset",
        "stop-color",
        "stop-opacity",
        "gradientUnits",
        "gradientTransform",
        "spreadMethod",
        "clipPathUnits",
        "maskUnits",
        "maskContentUnits",
        "vector-effect",
        "shape-rendering",
        "href",  # checked below: local '#id' only
    }
)

# Only same-document references survive: fill="url(#grad)", href="#shape".
LOCAL_REF = re.compile(r"#[A-Za-z_][\w.\-]*")
LOCAL_URL = re.compile(r"url\(\s*(['\"]?)#[A-Za-z_][\w.\-]*\1\s*\)", re.IGNORECASE)
# Browsers ignore whitespace and control characters inside a scheme.
INVISIBLE = re.compile(r"[\x00-\x20\x7f]+")


def sanitize_svg(text: object) -> str:
    """The icon re-serialised from its parsed tree; ValidationError naming the reason."""
    if not isinstance(text, str):
        raise ValidationError("icon_svg must be a string")
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise ValidationError(f"icon_svg is larger than {MAX_BYTES // 1024} KiB")
    try:
        root = fromstring(text.strip(), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ValidationError(
            f"icon_svg: DTDs and entities are not allowed ({type(exc).__name__})"
        ) from exc
    except ParseError as exc:
        raise ValidationError(f"icon_svg is not well-formed XML: {exc}") from exc
    if _local(root.tag, "element") != "svg":
        raise ValidationError("icon_svg: the root element must be <svg>")
    counter = [0]
    uses_xlink = _uses_xlink(root)
    body = _write(root, counter, 0)
    head = f'<svg xmlns="{SVG_NS}"' + (f' xmlns:xlink="{XLINK_NS}"' if uses_xlink else "")
    return head + body[len("<svg") :]


def _local(tag: str, what: str) -> str:
    """The name of an SVG-namespace (or un-namespaced) tag; anything else is refused."""
    if not isinstance(tag, str):
        raise ValidationError(f"icon_svg: unexpected {what} node")
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        if namespace != SVG_NS:
            raise ValidationError(
                f"icon_svg: {what} <{name}> from namespace {namespace} is not allowed"
            )
        return name
    return tag


def _uses_xlink(root: Element) -> bool:
    return any(f"{{{XLINK_NS}}}href" in el.attrib for el in root.iter())


def _write(element: Element, counter: list[int], depth: int) -> str:
    counter[0] += 1
    if counter[0] > MAX_ELEMENTS:
        raise ValidationError(f"icon_svg has more than {MAX_ELEMENTS} elements")
    if depth > MAX_DEPTH:
        raise ValidationError(f"icon_svg nests deeper than {MAX_DEPTH} levels")
    name = _local(element.tag, "element")
    if name in FORBIDDEN_ELEMENTS:
        raise ValidationError(f"icon_svg: {FORBIDDEN_ELEMENTS[name]}")
    if name not in ELEMENTS:
        raise ValidationError(f"icon_svg: element <{name}> is not allowed")
    parts = [f"<{name}"]
    for key, value in element.attrib.items():
        attr = _attribute(name, key, value)
        parts.append(f' {attr}="{_escape(value, attribute=True)}"')
    children = [_write(child, counter, depth + 1) for child in element]
    text = element.text or ""
    if not children and not text.strip():
        return "".join(parts) + "/>"
    parts.append(">")
    if name in ("title", "desc"):
        parts.append(_escape(text))
    parts.extend(children)
    parts.append(f"</{name}>")
    return "".join(parts)


def _attribute(element: str, key: str, value: str) -> str:
    """The attribute's serialised name after checking it and its value."""
    if key.startswith("{"):
        namespace, _, local = key[1:].partition("}")
        if namespace == XLINK_NS and local == "href":
            name, out = "href", "xlink:href"
        elif namespace == XML_NS and local == "space":
            return "xml:space" if value in ("default", "preserve") else _bad(element, "xml:space")
        else:
            raise ValidationError(
                f"icon_svg: attribute {local} (namespace {namespace}) is not allowed"
            )
    else:
        name = out = key
    lowered = name.lower()
    if lowered.startswith("on"):
        raise ValidationError(f"icon_svg: event handler attribute {name} is not allowed")
    if lowered == "style":
        raise ValidationError("icon_svg: style attributes are not allowed")
    if name not in ATTRIBUTES:
        raise ValidationError(f"icon_svg: attribute {name} is not allowed on <{element}>")
    compact = INVISIBLE.sub("", value).lower()
    for scheme in ("javascript:", "vbscript:", "data:"):
        if scheme in compact:
            raise ValidationError(f"icon_svg: {scheme} URLs are not allowed ({name})")
    if "expression(" in compact:
        raise ValidationError(f"icon_svg: CSS expressions are not allowed ({name})")
    if name == "href":
        if not LOCAL_REF.fullmatch(value.strip()):
            raise ValidationError(
                f"icon_svg: external reference in {out} on <{element}> "
                "(only local '#id' references are allowed)"
            )
    elif "url(" in LOCAL_URL.sub("", compact):
        raise ValidationError(
            f"icon_svg: external reference url(...) in {name} (only url(#id) is allowed)"
        )
    return out


def _bad(element: str, attribute: str) -> NoReturn:
    raise ValidationError(f"icon_svg: bad value for {attribute} on <{element}>")


def _escape(value: str, *, attribute: bool = False) -> str:
    out = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if attribute:
        out = out.replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;")
        out = out.replace("\t", "&#9;")
    return out
