//! The storage conformance suite: every case runs against SQLite and, when `VOLTVEND_TEST_PG_URL` is set
//! (required under `CI=true`), against PostgreSQL with a fresh database per test.

// Tests may panic: a failed expectation is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod cases;
mod harness;
mod proptests;

/// Stamps out one test per backend for each named case in `cases`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend {
            $(
                #[tokio::test(flavor = "current_thread")]
                async fn $name() {
                    let h = crate::harness::Harness::sqlite().await;
                    crate::cases::$name(&h).await;
                    h.finish().await;
                }
            )*
        }
        mod postgres_backend {
            $(
                #[tokio::test(flavor = "current_thread")]
                async fn $name() {
                    let Some(h) = crate::harness::Harness::postgres().await else { return };
                    crate::cases::$name(&h).await;
                    h.finish().await;
                }
            )*
        }
    };
}

conformance!(
    migrations_are_idempotent,
    premises_tree_round_trip,
    estate_records_round_trip,
    operators_are_unique,
    transfer_replay_and_conflict,
    refusals_change_nothing,
    reversals_are_limited_to_what_is_left,
    concurrent_posts_share_one_commit,
    a_database_error_fails_only_its_operation,
    operations_agree_with_the_model,
    saved_responses_are_returned_byte_for_byte,
    tampering_is_detected,
    audit_tampering_is_detected,
    receipt_gaps_are_detected,
    live_connections_are_durable,
    two_writers_never_collide,
    a_second_writer_invalidates_the_cache,
    shutdown_answers_every_caller,
    backup_while_writing,
    a_database_without_schema_is_not_backed_up,
    instance_lock_is_exclusive,
    tariff_documents_and_pricing_state,
    unknown_ids_are_refused,
    counter_records_and_lists,
    head_end_control_round_trip,
    reading_history_by_meter_subtree_and_period,
    corrections_and_reports_agree_with_the_model,
    ic_cards_agree_with_the_model,
    online_payments_agree_with_the_model,
    apportionment_agrees_with_the_model,
    fees_agree_with_the_model,
    fee_corrections_agree_with_the_model,
    postpaid_bills_agree_with_the_model,
    inter_property_books_agree_with_the_model,
    consumption_by_tou_period,
);
