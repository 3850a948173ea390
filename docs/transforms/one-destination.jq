# Address one destination: these calls go to Mixpanel only, not to every destination of
# the source (see "integrations" in the Data Pipelines docs).
.integrations = {"All": false, "Mixpanel": true}
