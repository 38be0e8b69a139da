"""Knowledge files -> documents and passages, the Chroma index, the embedding model, the general vocabulary."""
