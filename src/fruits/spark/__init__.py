"""The Spark job: discovery, featurization, PCA and writes. Imports the pure building blocks, never the CLI."""
