"""The ``$metadata`` CSDL (EDMX 4.0) document, generated from :mod:`schema`.

Its shape follows NAV's: one schema in the ``NAV`` namespace, a ``Company`` entity type that
contains every published service (which is what makes ``Company('CRONUS')/Customer`` a valid
OData path for generic clients), and an entity set per service for the ``?company=`` form.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from simulators.navision.schema import CONTAINED, ENTITY_SETS, EntityType, Property

NAMESPACE = "NAV"
_COMPANY_PROPERTIES = (
    '<Property Name="Name" Type="Edm.String" Nullable="false" MaxLength="30" />',
    '<Property Name="Display_Name" Type="Edm.String" MaxLength="250" />',
    '<Property Name="Id" Type="Edm.Guid" />',
)


def metadata_document() -> str:
    """The whole ``$metadata`` XML text."""
    types = [*ENTITY_SETS.values(), *CONTAINED.values()]
    return "\n".join(
        [
            '<?xml version="1.0" encoding="utf-8"?>',
            '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
            "<edmx:DataServices>",
            f'<Schema Namespace="{NAMESPACE}" xmlns="http://docs.oasis-open.org/odata/ns/edm">',
            _company_type(),
            *(_entity_type(entity) for entity in types),
            _container(),
            "</Schema>",
            "</edmx:DataServices>",
            "</edmx:Edmx>",
        ]
    )


def _company_type() -> str:
    navigation = [_navigation(name) for name in ENTITY_SETS]
    return "\n".join(
        [
            '<EntityType Name="Company">',
            '<Key><PropertyRef Name="Name" /></Key>',
            *_COMPANY_PROPERTIES,
            *navigation,
            "</EntityType>",
        ]
    )


def _entity_type(entity: EntityType) -> str:
    keys = "".join(f"<PropertyRef Name={quoteattr(name)} />" for name in entity.key)
    properties = [_property(prop, prop.name in entity.key) for prop in entity.properties]
    navigation = [_navigation(entity.containment)] if entity.containment else []
    return "\n".join(
        [
            f"<EntityType Name={quoteattr(entity.name)}>",
            f"<Key>{keys}</Key>",
            *properties,
            *navigation,
            "</EntityType>",
        ]
    )


def _property(prop: Property, is_key: bool) -> str:
    attributes = [f"Name={quoteattr(prop.name)}", f'Type="{prop.edm}"']
    if is_key:
        attributes.append('Nullable="false"')
    if prop.max_length is not None:
        attributes.append(f'MaxLength="{prop.max_length}"')
    if prop.edm == "Edm.Decimal":
        attributes.append('Scale="Variable"')
    return f"<Property {' '.join(attributes)} />"


def _navigation(name: str) -> str:
    return (
        f'<NavigationProperty Name="{name}" Type="Collection({NAMESPACE}.{name})" '
        'ContainsTarget="true" />'
    )


def _container() -> str:
    sets = [
        f'<EntitySet Name="{name}" EntityType="{NAMESPACE}.{name}" />'
        for name in ("Company", *ENTITY_SETS)
    ]
    return "\n".join([f'<EntityContainer Name="{NAMESPACE}">', *sets, "</EntityContainer>"])
