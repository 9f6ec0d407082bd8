use super::*;
use crate::stores::Store;
use crate::stores::yaml::YamlStore;

fn docs(text: &str) -> Vec<Branch> {
    if text.is_empty() {
        return Vec::new();
    }
    YamlStore::default().load(text.as_bytes()).unwrap()
}

fn render(v: &Value) -> String {
    String::from_utf8(YamlStore::default().emit_value(v).unwrap()).unwrap()
}

/// Merges three YAML texts; the merged YAML and the conflict paths.
fn merge(base: &str, ours: &str, theirs: &str) -> (String, Vec<String>) {
    let m = merge_documents(&docs(base), &docs(ours), &docs(theirs), &render).unwrap();
    let text = String::from_utf8(YamlStore::default().emit_plain(&m.docs).unwrap()).unwrap();
    (text, m.conflicts)
}

#[test]
fn changes_to_different_keys_are_both_kept() {
    let (out, conflicts) = merge(
        "a: 1\nb: 2\nc: 3\n",
        "a: 10\nb: 2\nc: 3\n",
        "a: 1\nb: 2\nc: 30\n",
    );
    assert_eq!(out, "a: 10\nb: 2\nc: 30\n");
    assert!(conflicts.is_empty());
}

#[test]
fn additions_go_after_their_predecessor_and_removals_apply() {
    let (out, conflicts) = merge(
        "a: 1\nb: 2\nc: 3\n",
        "a: 1\nnew_ours: x\nb: 2\nc: 3\n",
        "a: 1\nc: 3\nnew_theirs: z\n",
    );
    assert_eq!(out, "a: 1\nnew_ours: x\nc: 3\nnew_theirs: z\n");
    assert!(conflicts.is_empty());
}

#[test]
fn the_same_change_on_both_sides_is_no_conflict() {
    let (out, conflicts) = merge("a: 1\n", "a: 2\n", "a: 2\n");
    assert_eq!(out, "a: 2\n");
    assert!(conflicts.is_empty());
}

#[test]
fn different_changes_to_one_value_conflict_with_markers() {
    let (_, conflicts) = merge("x:\n    a: 1\n", "x:\n    a: ours\n", "x:\n    a: theirs\n");
    assert_eq!(conflicts, [r#"["x"]["a"]"#]);
    let m = merge_documents(
        &docs("x:\n    a: 1\n"),
        &docs("x:\n    a: ours\n"),
        &docs("x:\n    a: theirs\n"),
        &render,
    )
    .unwrap();
    let Some(Value::Map(x)) = m.docs[0].get("x") else {
        panic!("x")
    };
    assert_eq!(
        x.get("a"),
        Some(&Value::Str(
            "<<<<<<< ours\nours\n=======\ntheirs\n>>>>>>> theirs".into()
        ))
    );
}

#[test]
fn removed_on_one_side_and_changed_on_the_other_conflicts() {
    let m = merge_documents(
        &docs("a: 1\nb: 2\n"),
        &docs("b: 2\n"),
        &docs("a: 5\nb: 2\n"),
        &render,
    )
    .unwrap();
    assert_eq!(m.conflicts, [r#"["a"]"#]);
    assert_eq!(
        m.docs[0].get("a"),
        Some(&Value::Str(
            "<<<<<<< ours (deleted)\n=======\n5\n>>>>>>> theirs".into()
        ))
    );
    // Removed on one side, unchanged on the other: removed.
    let (out, conflicts) = merge("a: 1\nb: 2\n", "b: 2\n", "a: 1\nb: 3\n");
    assert_eq!(out, "b: 3\n");
    assert!(conflicts.is_empty());
}

#[test]
fn sequences_of_equal_length_merge_element_wise() {
    let (out, conflicts) = merge(
        "l:\n    - a\n    - b\n    - c\n",
        "l:\n    - A\n    - b\n    - c\n",
        "l:\n    - a\n    - b\n    - C\n",
    );
    assert_eq!(out, "l:\n    - A\n    - b\n    - C\n");
    assert!(conflicts.is_empty());
}

#[test]
fn sequences_that_changed_length_on_one_side_take_that_side() {
    let (out, conflicts) = merge(
        "l:\n    - a\n",
        "l:\n    - a\n    - b\n",
        "l:\n    - a\nother: 1\n",
    );
    assert_eq!(out, "l:\n    - a\n    - b\nother: 1\n");
    assert!(conflicts.is_empty());
}

#[test]
fn sequences_changed_differently_in_length_are_one_conflict() {
    let m = merge_documents(
        &docs("l:\n    - a\n"),
        &docs("l:\n    - a\n    - b\n"),
        &docs("l:\n    - a\n    - c\n"),
        &render,
    )
    .unwrap();
    assert_eq!(m.conflicts, [r#"["l"]"#]);
    let Some(Value::Str(s)) = m.docs[0].get("l") else {
        panic!("l")
    };
    assert!(
        s.starts_with("<<<<<<< ours\n") && s.ends_with("\n>>>>>>> theirs"),
        "{s}"
    );
    assert!(s.contains("- b") && s.contains("- c"), "{s}");
}

#[test]
fn conflicts_inside_sequences_name_the_index() {
    let (_, conflicts) = merge(
        "l:\n    - a\n    - b\n",
        "l:\n    - a\n    - x\n",
        "l:\n    - a\n    - y\n",
    );
    assert_eq!(conflicts, [r#"["l"][1]"#]);
}

#[test]
fn comments_travel_with_their_entry_and_changes_on_both_sides_are_kept() {
    let (out, conflicts) = merge(
        "# about a\na: 1\nb: 2\n",
        "# about a, ours\na: 1\nb: 2\n",
        "# about a\na: 1\n# about b\nb: 2\n",
    );
    assert_eq!(out, "# about a, ours\na: 1\n# about b\nb: 2\n");
    assert!(conflicts.is_empty());
    let (out, _) = merge("# c\na: 1\n", "# c ours\na: 1\n", "# c theirs\na: 1\n");
    assert_eq!(out, "# c ours\n# c theirs\na: 1\n");
}

#[test]
fn key_order_changed_on_one_side_only_is_kept() {
    let (out, conflicts) = merge(
        "a: 1\nb: 2\nc: 3\n",
        "a: 1\nb: 20\nc: 3\n",
        "c: 3\nb: 2\na: 1\n",
    );
    assert_eq!(out, "c: 3\nb: 20\na: 1\n");
    assert!(conflicts.is_empty());
}

#[test]
fn no_common_ancestor_merges_what_agrees() {
    let (out, conflicts) = merge("", "a: 1\nb: 2\n", "a: 1\nc: 3\n");
    assert_eq!(out, "a: 1\nb: 2\nc: 3\n");
    assert!(conflicts.is_empty());
}

#[test]
fn document_counts_changed_differently_are_refused() {
    let err = merge_documents(
        &docs("a: 1\n"),
        &docs("a: 1\n---\nb: 1\n"),
        &docs("a: 2\n---\nb: 1\n---\nc: 1\n"),
        &render,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        TreeMergeError::DocumentCount {
            base: 1,
            ours: 2,
            theirs: 3
        }
    ));
}

#[test]
fn several_documents_merge_one_by_one() {
    let (out, conflicts) = merge(
        "a: 1\n---\nb: 1\n",
        "a: 2\n---\nb: 1\n",
        "a: 1\n---\nb: 2\n",
    );
    assert_eq!(out, "a: 2\n---\nb: 2\n");
    assert!(conflicts.is_empty());
}

mod properties {
    use proptest::prelude::*;

    use super::super::Merger;
    use crate::tree::{Branch, Comment, Item, Value};

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            (0i64..4).prop_map(Value::Int),
            "[a-c]{0,2}".prop_map(Value::Str),
            Just(Value::Null),
        ]
    }

    /// Small key and value alphabets, so that three independent trees
    /// share keys and values often.
    fn value() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Seq),
                branch_of(inner).prop_map(Value::Map),
            ]
        })
    }

    fn branch_of(values: impl Strategy<Value = Value>) -> impl Strategy<Value = Branch> {
        prop::collection::vec(
            prop_oneof![
                4 => ("[a-e]", values).prop_map(|(k, v)| Item::Entry(k, v)),
                1 => "[xy]".prop_map(|c| Item::Comment(Comment::new(c))),
            ],
            0..6,
        )
        .prop_map(|items| {
            let mut seen = std::collections::HashSet::new();
            Branch(
                items
                    .into_iter()
                    .filter(|i| match i {
                        Item::Entry(k, _) => seen.insert(k.clone()),
                        Item::Comment(_) => true,
                    })
                    .collect(),
            )
        })
    }

    fn merge(b: &Branch, o: &Branch, t: &Branch) -> (Branch, Vec<String>) {
        let render = |v: &Value| format!("{v:?}");
        let mut m = Merger {
            render: &render,
            conflicts: Vec::new(),
        };
        let out = m.branch(Some(b), o, t, &mut Vec::new());
        (out, m.conflicts)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// A change on one side only is taken as it is, whichever side.
        #[test]
        fn one_sided_changes_are_taken_whole(b in branch_of(value()), x in branch_of(value())) {
            let (ours, conflicts) = merge(&b, &x, &b);
            prop_assert_eq!(&ours, &x);
            prop_assert!(conflicts.is_empty());
            let (theirs, conflicts) = merge(&b, &b, &x);
            prop_assert_eq!(&theirs, &x);
            prop_assert!(conflicts.is_empty());
            let (same, conflicts) = merge(&b, &x, &x);
            prop_assert_eq!(&same, &x);
            prop_assert!(conflicts.is_empty());
        }

        /// Any three trees merge without panicking, and the same paths
        /// conflict whichever side is called ours.
        #[test]
        fn conflicts_do_not_depend_on_the_sides(
            b in branch_of(value()),
            o in branch_of(value()),
            t in branch_of(value()),
        ) {
            let (_, mut one) = merge(&b, &o, &t);
            let (_, mut two) = merge(&b, &t, &o);
            one.sort();
            two.sort();
            prop_assert_eq!(one, two);
        }
    }
}
