// Validate the custom resources in rendered manifests against their CRD schemas, offline.
//   node deploy/tools/validate_crs.mjs rendered.yaml...
// Covers KEDA ScaledObject/TriggerAuthentication and Prometheus Operator ServiceMonitor/PodMonitor/
// PrometheusRule (kubernetes-validate has no CRD schemas). Other kinds are skipped. Exit 1 on any
// invalid object. Packages: deploy/tools/package.json, installed by deploy/install-tools.sh.
import fs from "node:fs";
import * as yaml from "js-yaml";
import { ScaledObject, TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1";
import { PodMonitor, PrometheusRule, ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const MODELS = {
  "keda.sh/v1alpha1/ScaledObject": ScaledObject,
  "keda.sh/v1alpha1/TriggerAuthentication": TriggerAuthentication,
  "monitoring.coreos.com/v1/PodMonitor": PodMonitor,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
  "monitoring.coreos.com/v1/PrometheusRule": PrometheusRule,
};

let bad = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of yaml.loadAll(fs.readFileSync(file, "utf8"))) {
    const Model = doc && MODELS[`${doc.apiVersion}/${doc.kind}`];
    if (!Model) continue;
    const name = `${file}: ${doc.kind}/${doc.metadata?.name}`;
    try {
      new Model(doc).validate();
      console.log(`ok   ${name}`);
    } catch (e) {
      bad++;
      console.log(`FAIL ${name}: ${e.message}`);
    }
  }
}
process.exit(bad ? 1 : 0);
