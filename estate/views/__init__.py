"""Estate's pages, one module per area. Every page reads the mirror only, never AWS."""
