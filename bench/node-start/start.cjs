// A CommonJS script that does nothing: what a process of a test suite that never imports Drizzle costs to start.
