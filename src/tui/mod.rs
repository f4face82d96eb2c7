//! The dashboard. Reads run events; knows nothing of burn.
