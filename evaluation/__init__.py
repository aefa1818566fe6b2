"""How well pmsync links and groups feedback, measured on labelled data: the tooling of
`pmsync eval` and the benchmarks. Nothing pmsync runs to sync imports it."""
