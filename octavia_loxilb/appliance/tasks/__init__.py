"""TaskFlow tasks of the appliance lifecycle; each revert undoes exactly what its execute
made, found through the records the execute wrote before returning (so a task that fails
half-way is undone too)."""
