//! Every kind of event in the domain's list can be recorded over GraphQL, with exactly the
//! fields of its catalogue entry: a kind added to the list but not to the schema, or an input
//! object that drifts from its payload, fails here. Read from the schema clients see
//! (`kpi_graphql::sdl()`), so nothing of the schema's own code is trusted.

use std::collections::{BTreeMap, BTreeSet};

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{
    BaseType, InputValueDefinition, Type, TypeKind, TypeSystemDefinition,
};
use kpi_domain::event::Family;
use kpi_domain::{EventKind, LedgerEvent};

/// A field path and whether it is required.
type Fields = BTreeSet<(String, bool)>;

struct Schema {
    /// Input object name -> its fields.
    inputs: BTreeMap<String, Vec<InputValueDefinition>>,
    /// Mutation name -> its arguments.
    mutations: BTreeMap<String, Vec<InputValueDefinition>>,
}

fn schema() -> Schema {
    let document = parse_schema(kpi_graphql::sdl()).expect("the schema's SDL parses");
    let mut inputs = BTreeMap::new();
    let mut mutations = BTreeMap::new();
    for definition in document.definitions {
        let TypeSystemDefinition::Type(ty) = definition else {
            continue;
        };
        let ty = ty.node;
        match ty.kind {
            TypeKind::InputObject(input) => {
                let fields = input.fields.into_iter().map(|field| field.node).collect();
                inputs.insert(ty.name.node.to_string(), fields);
            }
            TypeKind::Object(object) if ty.name.node == "Mutation" => {
                for field in object.fields {
                    let field = field.node;
                    let arguments = field.arguments.into_iter().map(|arg| arg.node).collect();
                    mutations.insert(field.name.node.to_string(), arguments);
                }
            }
            _ => {}
        }
    }
    Schema { inputs, mutations }
}

/// `skill_training` -> `SkillTraining`.
fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| word[..1].to_uppercase() + &word[1..])
        .collect()
}

/// `first_date` -> `firstDate`, part by part of a dotted path.
fn camel(path: &str) -> String {
    path.split('.')
        .map(|part| {
            let pascal = pascal(part);
            pascal[..1].to_lowercase() + &pascal[1..]
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

/// The catalogue fields of `kind`, camel-cased; `whole` keeps only the first part of a path.
fn catalogue(kind: EventKind, whole: bool) -> Fields {
    LedgerEvent::kind_info(kind)
        .fields
        .iter()
        .map(|field| {
            let path = camel(field.name);
            let path = if whole {
                path.split('.').next().unwrap().to_owned()
            } else {
                path
            };
            (path, field.required)
        })
        .collect()
}

/// The fields of an input object, nested input objects flattened into dotted paths.
fn flattened(schema: &Schema, input: &str, prefix: &str, into: &mut Fields) {
    let fields = schema
        .inputs
        .get(input)
        .unwrap_or_else(|| panic!("the schema has no input `{input}`"));
    for field in fields {
        let path = format!("{prefix}{}", field.name.node);
        let inner = named(&field.ty.node);
        if schema.inputs.contains_key(inner) {
            flattened(schema, inner, &format!("{path}."), into);
        } else {
            into.insert((path, !field.ty.node.nullable));
        }
    }
}

/// The arguments of a write that are not part of the event.
const OPTIONS: [&str; 3] = ["idempotencyKey", "provenance", "outsidePlans"];

/// The payload arguments of a mutation, without the options every write takes.
fn arguments(schema: &Schema, mutation: &str) -> Fields {
    schema
        .mutations
        .get(mutation)
        .unwrap_or_else(|| panic!("the schema has no mutation `{mutation}`"))
        .iter()
        .filter(|argument| !OPTIONS.contains(&argument.name.node.as_str()))
        .map(|argument| (argument.name.node.to_string(), !argument.ty.node.nullable))
        .collect()
}

/// The mutation recording an amendment or a lifecycle event.
fn own_mutation(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Correction => "correctEvent",
        EventKind::Retraction => "retractEvent",
        EventKind::PlanAdopted => "adoptPlan",
        EventKind::PlanExtended => "extendPlan",
        EventKind::KpiTargetRevised => "reviseKpiTarget",
        EventKind::KpiAdded => "addKpi",
        EventKind::KpiRetired => "retireKpi",
        EventKind::PlanTransferred => "transferPlan",
        other => panic!(
            "`{other}` has no GraphQL mutation: add one (crates/graphql/src/plans/lifecycle.rs for \
             a lifecycle event) and name it here"
        ),
    }
}

#[test]
fn every_activity_kind_has_a_record_mutation_taking_its_catalogue_fields() {
    let schema = schema();
    let one_of = &schema.inputs["EventInput"];
    let mut activities = 0;
    for kind in EventKind::ALL
        .into_iter()
        .filter(|kind| kind.family() == Family::Activity)
    {
        activities += 1;
        let input = format!("{}Input", pascal(kind.name()));
        let mutation = format!("record{}", pascal(kind.name()));
        assert_eq!(
            arguments(&schema, &mutation),
            Fields::from([("input".to_owned(), true)]),
            "{mutation}"
        );
        let argument = &schema.mutations[&mutation][0];
        assert_eq!(named(&argument.ty.node), input, "{mutation}");
        let replacement = one_of
            .iter()
            .find(|field| field.name.node == camel(kind.name()))
            .unwrap_or_else(|| panic!("EventInput has no field for `{kind}`"));
        assert_eq!(named(&replacement.ty.node), input, "EventInput.{}", kind);
        let mut fields = Fields::new();
        flattened(&schema, &input, "", &mut fields);
        assert_eq!(
            fields,
            catalogue(kind, false),
            "{input} against the catalogue"
        );
    }
    assert!(activities > 0);
    assert_eq!(
        one_of.len(),
        activities,
        "EventInput has only activity kinds"
    );
}

#[test]
fn every_amendment_and_lifecycle_kind_has_a_mutation_taking_its_catalogue_fields() {
    let schema = schema();
    for kind in EventKind::ALL
        .into_iter()
        .filter(|kind| kind.family() != Family::Activity)
    {
        let mutation = own_mutation(kind);
        let mut expected = catalogue(kind, true);
        if kind == EventKind::Correction {
            // The replacement's field in `EventInput` names its kind.
            assert!(expected.remove(&("targetType".to_owned(), true)));
        }
        assert_eq!(arguments(&schema, mutation), expected, "{mutation}");
    }
}

#[test]
fn the_graphql_readme_names_every_record_mutation() {
    let readme = include_str!("../README.md");
    for kind in EventKind::ALL
        .into_iter()
        .filter(|kind| kind.family() == Family::Activity)
    {
        let mutation = format!("`record{}`", pascal(kind.name()));
        assert!(
            readme.contains(&mutation),
            "crates/graphql/README.md: {mutation}"
        );
    }
}
