"""The three data families: seeded generators that write the real file layouts, and loaders."""
