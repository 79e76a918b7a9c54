"""Test helpers shared by several test modules and benches (test doubles, fixture recipes)."""
