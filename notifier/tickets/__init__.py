"""Tickets that follow a resource: one per problem, resolved when fixed, reopened on relapse."""
