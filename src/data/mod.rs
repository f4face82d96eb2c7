//! The data engine: Kaggle tiles in, augmented normalised batches out.
