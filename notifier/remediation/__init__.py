"""Guarded auto-remediation: the `lambda` destination's decisions and its contract with the function.

    payload.py   the versioned invoke payload (schemas/remediation-payload.v1.schema.json)
    guard.py     GuardSettings (validated options) and the side-effect-free `decide`
    ../destinations/remediation.py   the channel: decide, invoke (InvocationType=Event), count

Nothing is re-exported here on purpose: the example remediation Lambda
(`notifier.rules.remediate_standardized_iam_policies`) imports `payload` alone, and importing this
package must not pull the guard's routing imports into that function's cold start.
"""
