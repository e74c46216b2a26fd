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
    customers_accounts_meters_round_trip,
    operators_are_unique,
    transfer_replay_and_conflict,
    refusals_change_nothing,
    corrections_reference_originals,
    concurrent_posts_share_one_commit,
    tampering_is_detected,
    backup_while_writing,
    instance_lock_is_exclusive,
    tariff_documents_and_pricing_state,
);
