"""The ``$metadata`` CSDL (EDMX 4.0) document, generated from the published entity sets.

Shaped like an ASP.NET Web API OData model: the entity types in the namespace of Creatio's OData
entity classes (``Terrasoft.Configuration.OData``) and the container in a ``Default`` schema
(**unverified** against a real instance's names). Every lookup column ``<Name>Id`` comes with a
navigation property ``<Name>`` constrained to it, bound to the target set in the container.
"""

from __future__ import annotations

from collections.abc import Mapping
from xml.sax.saxutils import quoteattr

from simulators.creatio.entities import NAMESPACE, EntitySet, Kind

_EDM_TYPES: dict[Kind, str] = {
    "guid": "Edm.Guid",
    "string": "Edm.String",
    "datetime": "Edm.DateTimeOffset",
    "decimal": "Edm.Decimal",
    "int32": "Edm.Int32",
    "int64": "Edm.Int64",
    "bool": "Edm.Boolean",
}
_EDM = "http://docs.oasis-open.org/odata/ns/edm"
CONTAINER_NAMESPACE = "Default"
CONTAINER = "Container"


def metadata_document(sets: Mapping[str, EntitySet]) -> str:
    """The whole ``$metadata`` XML text for ``sets``."""
    return "\n".join(
        [
            '<?xml version="1.0" encoding="utf-8"?>',
            '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
            "<edmx:DataServices>",
            f'<Schema Namespace="{NAMESPACE}" xmlns="{_EDM}">',
            *(_entity_type(entity) for entity in sets.values()),
            "</Schema>",
            f'<Schema Namespace="{CONTAINER_NAMESPACE}" xmlns="{_EDM}">',
            f'<EntityContainer Name="{CONTAINER}">',
            *(_entity_set(entity) for entity in sets.values()),
            "</EntityContainer>",
            "</Schema>",
            "</edmx:DataServices>",
            "</edmx:Edmx>",
        ]
    )


def _navigation_name(column: str) -> str:
    return column.removesuffix("Id")


def _entity_type(entity: EntitySet) -> str:
    properties = [_property(column, kind) for column, kind in entity.columns.items()]
    navigation = [
        f"<NavigationProperty Name={quoteattr(_navigation_name(column))} "
        f'Type="{NAMESPACE}.{target}">'
        f'<ReferentialConstraint Property="{column}" ReferencedProperty="Id" />'
        "</NavigationProperty>"
        for column, target in entity.lookups.items()
    ]
    return "\n".join(
        [
            f"<EntityType Name={quoteattr(entity.name)}>",
            '<Key><PropertyRef Name="Id" /></Key>',
            *properties,
            *navigation,
            "</EntityType>",
        ]
    )


def _property(column: str, kind: Kind) -> str:
    attributes = [f"Name={quoteattr(column)}", f'Type="{_EDM_TYPES[kind]}"']
    if column == "Id":
        attributes.append('Nullable="false"')
    if kind == "decimal":
        attributes.append('Scale="Variable"')
    return f"<Property {' '.join(attributes)} />"


def _entity_set(entity: EntitySet) -> str:
    bindings = [
        f"<NavigationPropertyBinding Path={quoteattr(_navigation_name(column))} "
        f"Target={quoteattr(target)} />"
        for column, target in entity.lookups.items()
    ]
    return "\n".join(
        [
            f'<EntitySet Name="{entity.name}" EntityType="{NAMESPACE}.{entity.name}">',
            *bindings,
            "</EntitySet>",
        ]
    )
