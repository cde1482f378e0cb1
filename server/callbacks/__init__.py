"""The callback audit: tasks made from what technicians claim, ranked by the risk that a
claim is false, worked by auditors who record what customers say."""
