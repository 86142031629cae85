//! Reviews (a KPI's period: comment, cause, actions with who, due date and state) and
//! annotations (a dated note, optionally on one KPI). Validation is the caller's; this module
//! stores and reads.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, StateDb, StateError};

/// An agreed action of a review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub what: String,
    pub who: String,
    /// ISO date.
    pub due: String,
    /// `open` or `done`.
    pub state: String,
}

/// A review as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub id: String,
    pub kpi: String,
    pub period: String,
    pub comment: String,
    pub cause: Option<String>,
    pub author: String,
    /// Unix microseconds.
    pub created_at: i64,
    pub actions: Vec<Action>,
}

/// An open action past its due date, with its KPI and review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverdueAction {
    pub kpi: String,
    pub review_id: String,
    pub period: String,
    pub action: Action,
}

/// An annotation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub id: String,
    pub kpi: Option<String>,
    pub day: String,
    pub text: String,
    pub author: String,
    pub created_at: i64,
}

/// Where a page of a newest-first list starts: just after the entry with this key (the last
/// of the page before).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct After {
    /// The annotation's day (empty for reviews).
    pub day: String,
    pub created_at: i64,
    pub id: String,
}

impl After {
    pub fn of_review(review: &Review) -> After {
        After {
            day: String::new(),
            created_at: review.created_at,
            id: review.id.clone(),
        }
    }

    pub fn of_annotation(annotation: &Annotation) -> After {
        After {
            day: annotation.day.clone(),
            created_at: annotation.created_at,
            id: annotation.id.clone(),
        }
    }
}

/// Which annotations to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct AnnotationFilter<'a> {
    /// ISO dates, inclusive.
    pub from: &'a str,
    pub to: &'a str,
    /// The KPIs whose annotations may be listed (general ones always are); `None`: every KPI.
    pub kpis: Option<&'a [String]>,
    pub after: Option<&'a After>,
    pub limit: usize,
}

impl StateDb {
    /// Stores a review and its actions (its `id` and `created_at` are assigned here).
    pub async fn insert_review(&self, review: &Review) -> Result<Review> {
        let mut stored = review.clone();
        stored.id = new_id();
        stored.created_at = now_micros();
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO reviews (id, kpi, period, comment, cause, author, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&stored.id)
        .bind(&stored.kpi)
        .bind(&stored.period)
        .bind(&stored.comment)
        .bind(stored.cause.as_deref())
        .bind(&stored.author)
        .bind(stored.created_at)
        .execute(&mut *tx)
        .await?;
        for (position, action) in stored.actions.iter().enumerate() {
            sqlx::query(
                "INSERT INTO review_actions (review_id, position, what, who, due, state) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&stored.id)
            .bind(position as i64)
            .bind(&action.what)
            .bind(&action.who)
            .bind(&action.due)
            .bind(&action.state)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(stored)
    }

    /// One page of a KPI's reviews recorded at or after `since` (Unix microseconds), newest
    /// first, with their actions: at most `limit`, after `after`.
    pub async fn reviews_page(
        &self,
        kpi: &str,
        since: i64,
        after: Option<&After>,
        limit: usize,
    ) -> Result<Vec<Review>> {
        let mut sql = String::from(
            "SELECT id, kpi, period, comment, cause, author, created_at FROM reviews \
             WHERE kpi = $1 AND created_at >= $2",
        );
        if after.is_some() {
            sql.push_str(" AND (created_at < $3 OR (created_at = $3 AND id < $4))");
        }
        sql.push_str(&format!(
            " ORDER BY created_at DESC, id DESC LIMIT {}",
            limit.min(100_000)
        ));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(kpi).bind(since);
        if let Some(after) = after {
            query = query.bind(after.created_at).bind(after.id.clone());
        }
        let rows = query.fetch_all(self.pool()).await?;
        let mut reviews = rows.iter().map(review).collect::<Result<Vec<_>>>()?;
        for r in &mut reviews {
            r.actions = self.actions_of(&r.id).await?;
        }
        Ok(reviews)
    }

    /// A KPI's reviews, newest first, with their actions.
    pub async fn reviews(&self, kpi: &str) -> Result<Vec<Review>> {
        let rows = sqlx::query(
            "SELECT id, kpi, period, comment, cause, author, created_at FROM reviews WHERE kpi = $1 \
             ORDER BY created_at DESC, id DESC",
        )
        .bind(kpi)
        .fetch_all(self.pool())
        .await?;
        let mut reviews = rows.iter().map(review).collect::<Result<Vec<_>>>()?;
        for r in &mut reviews {
            r.actions = self.actions_of(&r.id).await?;
        }
        Ok(reviews)
    }

    async fn actions_of(&self, review_id: &str) -> Result<Vec<Action>> {
        let rows = sqlx::query(
            "SELECT what, who, due, state FROM review_actions WHERE review_id = $1 ORDER BY position",
        )
        .bind(review_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(action).collect()
    }

    /// Marks one action of a review (by position) `open` or `done`.
    pub async fn set_action_state(
        &self,
        review_id: &str,
        position: i64,
        state: &str,
    ) -> Result<()> {
        let changed = sqlx::query(
            "UPDATE review_actions SET state = $1 WHERE review_id = $2 AND position = $3",
        )
        .bind(state)
        .bind(review_id)
        .bind(position)
        .execute(self.pool())
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StateError::NotFound(format!(
                "review `{review_id}` has no action {position}"
            )));
        }
        Ok(())
    }

    /// The review of this id.
    pub async fn review(&self, id: &str) -> Result<Option<Review>> {
        let row = sqlx::query(
            "SELECT id, kpi, period, comment, cause, author, created_at FROM reviews WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut found = review(&row)?;
        found.actions = self.actions_of(&found.id).await?;
        Ok(Some(found))
    }

    /// Open actions due before `today` (an ISO date), oldest due first.
    pub async fn overdue_actions(&self, today: &str) -> Result<Vec<OverdueAction>> {
        let rows = sqlx::query(
            "SELECT r.kpi, r.id, r.period, a.what, a.who, a.due, a.state FROM review_actions a \
             JOIN reviews r ON r.id = a.review_id WHERE a.state = 'open' AND a.due < $1 \
             ORDER BY a.due, r.kpi, a.position",
        )
        .bind(today)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OverdueAction {
                    kpi: r.try_get(0)?,
                    review_id: r.try_get(1)?,
                    period: r.try_get(2)?,
                    action: Action {
                        what: r.try_get(3)?,
                        who: r.try_get(4)?,
                        due: r.try_get(5)?,
                        state: r.try_get(6)?,
                    },
                })
            })
            .collect()
    }

    /// Stores an annotation (its `id` and `created_at` are assigned here).
    pub async fn insert_annotation(&self, annotation: &Annotation) -> Result<Annotation> {
        let mut stored = annotation.clone();
        stored.id = new_id();
        stored.created_at = now_micros();
        sqlx::query(
            "INSERT INTO annotations (id, kpi, day, text, author, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&stored.id)
        .bind(stored.kpi.as_deref())
        .bind(&stored.day)
        .bind(&stored.text)
        .bind(&stored.author)
        .bind(stored.created_at)
        .execute(self.pool())
        .await?;
        Ok(stored)
    }

    /// One page of annotations, newest first (by day, then by when they were recorded).
    pub async fn annotations_page(&self, filter: &AnnotationFilter<'_>) -> Result<Vec<Annotation>> {
        let mut sql = String::from(
            "SELECT id, kpi, day, text, author, created_at FROM annotations \
             WHERE day >= $1 AND day <= $2",
        );
        let mut next = 3;
        if filter.after.is_some() {
            sql.push_str(
                " AND (day < $3 OR (day = $3 AND (created_at < $4 OR (created_at = $4 AND id < $5))))",
            );
            next = 6;
        }
        if let Some(kpis) = filter.kpis {
            let places: Vec<String> = (next..next + kpis.len()).map(|n| format!("${n}")).collect();
            if places.is_empty() {
                sql.push_str(" AND kpi IS NULL");
            } else {
                sql.push_str(&format!(
                    " AND (kpi IS NULL OR kpi IN ({}))",
                    places.join(", ")
                ));
            }
        }
        sql.push_str(&format!(
            " ORDER BY day DESC, created_at DESC, id DESC LIMIT {}",
            filter.limit.min(100_000)
        ));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(filter.from)
            .bind(filter.to);
        if let Some(after) = filter.after {
            query = query
                .bind(after.day.clone())
                .bind(after.created_at)
                .bind(after.id.clone());
        }
        for kpi in filter.kpis.unwrap_or_default() {
            query = query.bind(kpi.clone());
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(annotation).collect()
    }

    /// Annotations between two ISO dates (inclusive), oldest first.
    pub async fn annotations(&self, from: &str, to: &str) -> Result<Vec<Annotation>> {
        let rows = sqlx::query(
            "SELECT id, kpi, day, text, author, created_at FROM annotations WHERE day >= $1 AND day <= $2 \
             ORDER BY day, created_at",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(annotation).collect()
    }
}

/// An annotation from a row of `id, kpi, day, text, author, created_at`.
fn annotation(row: &AnyRow) -> Result<Annotation> {
    Ok(Annotation {
        id: row.try_get(0)?,
        kpi: row.try_get(1)?,
        day: row.try_get(2)?,
        text: row.try_get(3)?,
        author: row.try_get(4)?,
        created_at: row.try_get(5)?,
    })
}

fn review(row: &AnyRow) -> Result<Review> {
    Ok(Review {
        id: row.try_get(0)?,
        kpi: row.try_get(1)?,
        period: row.try_get(2)?,
        comment: row.try_get(3)?,
        cause: row.try_get(4)?,
        author: row.try_get(5)?,
        created_at: row.try_get(6)?,
        actions: Vec::new(),
    })
}

fn action(row: &AnyRow) -> Result<Action> {
    Ok(Action {
        what: row.try_get(0)?,
        who: row.try_get(1)?,
        due: row.try_get(2)?,
        state: row.try_get(3)?,
    })
}

/// Now, in Unix microseconds.
fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// A new random id: 16 hex digits.
fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}
