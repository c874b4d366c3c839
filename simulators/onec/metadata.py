"""The ``$metadata`` document (EDMX 1.0 / CSDL v3), generated from :mod:`schema`.

Its shape follows 1C's: one schema in the ``StandardODATA`` namespace; an entity type per
published object, a tabular section both as a ``…_RowType`` complex-type collection on its owner
and as an entity type of its own; a navigation property with an association per reference; the
``EnterpriseV8`` container with the entity sets, association sets and the ``Post``/``Unpost``/
``SliceLast``/``Balance`` functions. An accumulation register is an entity type of record sets
(its movements a ``…_RowType`` collection) and its ``Balance`` rows a complex type ``…_Balance``.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from simulators.onec.schema import ENTITY_SETS, REGISTERS, EntityType, Property, Register

NAMESPACE = "StandardODATA"
_EDMX = "http://schemas.microsoft.com/ado/2007/06/edmx"
_METADATA = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
_EDM = "http://schemas.microsoft.com/ado/2009/11/edm"


def metadata_document() -> str:
    """The whole ``$metadata`` XML text."""
    entities = list(ENTITY_SETS.values())
    return "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<edmx:Edmx xmlns:edmx="{_EDMX}" Version="1.0">',
            f'<edmx:DataServices xmlns:m="{_METADATA}" m:DataServiceVersion="3.0" '
            'm:MaxDataServiceVersion="3.0">',
            f'<Schema xmlns="{_EDM}" Namespace="{NAMESPACE}">',
            *(_entity_type(entity) for entity in entities),
            *(_row_type(e) for e in entities if e.section is not None),
            *(_balance_type(register) for register in REGISTERS.values()),
            *(_association(e, prop) for e in entities for prop in _references(e)),
            _container(entities),
            "</Schema>",
            "</edmx:DataServices>",
            "</edmx:Edmx>",
        ]
    )


def _references(entity: EntityType) -> list[Property]:
    return [prop for prop in entity.properties if prop.ref]


def _entity_type(entity: EntityType) -> str:
    keys = "".join(f"<PropertyRef Name={quoteattr(name)}/>" for name in entity.key)
    lines = [f"<EntityType Name={quoteattr(entity.name)}>", f"<Key>{keys}</Key>"]
    lines += [_property(prop, prop.name in entity.key) for prop in entity.properties]
    if entity.section is not None:
        row_type = f"{NAMESPACE}.{_row_type_name(entity)}"
        lines.append(
            f"<Property Name={quoteattr(entity.section.name)} "
            f'Type="Collection({row_type})" Nullable="false"/>'
        )
    for prop in _references(entity):
        lines.append(
            f"<NavigationProperty Name={quoteattr(str(prop.navigation))} "
            f"Relationship={quoteattr(f'{NAMESPACE}.{_association_name(entity, prop)}')} "
            'FromRole="Begin" ToRole="End"/>'
        )
    lines.append("</EntityType>")
    return "\n".join(lines)


def _row_type_name(entity: EntityType) -> str:
    """The rows' complex type: ``Document_X_Товары_RowType``, ``AccumulationRegister_X_RowType``."""
    assert entity.section is not None
    if entity.kind == "accumulation":
        return f"{entity.name}_RowType"
    return f"{entity.name}_{entity.section.name}_RowType"


def _row_type(entity: EntityType) -> str:
    assert entity.section is not None
    return _complex_type(_row_type_name(entity), entity.section.properties)


def _balance_type(register: Register) -> str:
    return _complex_type(register.balance_name, register.balance_type().properties)


def _complex_type(name: str, properties: tuple[Property, ...]) -> str:
    return "\n".join(
        [
            f"<ComplexType Name={quoteattr(name)}>",
            *(_property(prop, False) for prop in properties),
            "</ComplexType>",
        ]
    )


def _property(prop: Property, is_key: bool) -> str:
    nullable = "false" if is_key else "true"
    return f'<Property Name={quoteattr(prop.name)} Type="{prop.edm}" Nullable="{nullable}"/>'


def _association_name(entity: EntityType, prop: Property) -> str:
    return f"{entity.name}_{prop.navigation}"


def _association(entity: EntityType, prop: Property) -> str:
    return "\n".join(
        [
            f"<Association Name={quoteattr(_association_name(entity, prop))}>",
            f'<End Role="Begin" Type={quoteattr(f"{NAMESPACE}.{entity.name}")} Multiplicity="*"/>',
            f'<End Role="End" Type={quoteattr(f"{NAMESPACE}.{prop.ref}")} Multiplicity="0..1"/>',
            "</Association>",
        ]
    )


def _container(entities: list[EntityType]) -> str:
    lines = ['<EntityContainer Name="EnterpriseV8" m:IsDefaultEntityContainer="true">']
    lines += [
        f"<EntitySet Name={quoteattr(e.name)} EntityType={quoteattr(f'{NAMESPACE}.{e.name}')}/>"
        for e in entities
    ]
    for entity in entities:
        for prop in _references(entity):
            name = _association_name(entity, prop)
            lines += [
                f"<AssociationSet Name={quoteattr(name)} "
                f"Association={quoteattr(f'{NAMESPACE}.{name}')}>",
                f"<End Role={quoteattr('Begin')} EntitySet={quoteattr(entity.name)}/>",
                f"<End Role={quoteattr('End')} EntitySet={quoteattr(str(prop.ref))}/>",
                "</AssociationSet>",
            ]
    lines += [_actions(e) for e in entities if e.kind == "document"]
    lines += [_slice_last(e) for e in entities if e.kind == "register"]
    lines += [_balance(register) for register in REGISTERS.values()]
    lines.append("</EntityContainer>")
    return "\n".join(lines)


def _actions(entity: EntityType) -> str:
    binding = f'<Parameter Name="bindingParameter" Type="{NAMESPACE}.{entity.name}"/>'
    mode = '<Parameter Name="PostingModeOperational" Type="Edm.Boolean"/>'
    return "\n".join(
        [
            f'<FunctionImport Name="Post" IsBindable="true" m:IsAlwaysBindable="true">'
            f"{binding}{mode}</FunctionImport>",
            f'<FunctionImport Name="Unpost" IsBindable="true" m:IsAlwaysBindable="true">'
            f"{binding}</FunctionImport>",
        ]
    )


def _slice_last(entity: EntityType) -> str:
    return (
        f'<FunctionImport Name="SliceLast" ReturnType="Collection({NAMESPACE}.{entity.name})" '
        f'EntitySet={quoteattr(entity.name)} IsBindable="true" m:IsAlwaysBindable="true">'
        f'<Parameter Name="bindingParameter" Type="Collection({NAMESPACE}.{entity.name})"/>'
        '<Parameter Name="Period" Type="Edm.DateTime"/>'
        '<Parameter Name="Condition" Type="Edm.String"/>'
        "</FunctionImport>"
    )


def _balance(register: Register) -> str:
    return (
        f'<FunctionImport Name="Balance" '
        f'ReturnType="Collection({NAMESPACE}.{register.balance_name})" '
        'IsBindable="true" m:IsAlwaysBindable="true">'
        f'<Parameter Name="bindingParameter" Type="Collection({NAMESPACE}.{register.name})"/>'
        '<Parameter Name="Period" Type="Edm.DateTime"/>'
        '<Parameter Name="Condition" Type="Edm.String"/>'
        '<Parameter Name="Dimensions" Type="Edm.String"/>'
        "</FunctionImport>"
    )
