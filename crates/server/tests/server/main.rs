//! The server's integration tests, in one binary: the router with accounts and access, the JSON
//! API, connections, the route crawler, the stack's own errors, forecasts, funnels, hostile
//! requests, insights, limits, manual values and KPI trees. Each module says what it covers.

mod access;
mod api;
mod connections;
mod crawl;
mod errors;
mod forecast;
mod funnel;
mod hostile;
mod insights;
mod limits;
mod manual;
mod support;
mod tree;
mod trust;
