// Renders k8s/overlays/<overlay> the way kustomize does for the features we use (resources, namespace, images,
// labels) and validates every object against the Kubernetes API schemas bundled in kubernetes-models. Offline.
// Usage: node validate.mjs [overlay=example]   (exit 1 on the first invalid object)
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
const overlay = resolve(here, '..', 'overlays', process.argv[2] ?? 'example');

function render(dir) {
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'));
  let objects = [];
  for (const resource of kustomization.resources ?? []) {
    const path = resolve(dir, resource);
    if (resource.endsWith('.yaml')) {
      objects.push(...parseAllDocuments(readFileSync(path, 'utf8')).map((d) => d.toJS()).filter(Boolean));
    } else {
      objects.push(...render(path));
    }
  }
  for (const { pairs } of kustomization.labels ?? []) {
    objects.forEach((o) => (o.metadata.labels = { ...o.metadata.labels, ...pairs }));
  }
  if (kustomization.namespace) {
    objects.filter((o) => o.kind !== 'Namespace').forEach((o) => (o.metadata.namespace = kustomization.namespace));
  }
  for (const image of kustomization.images ?? []) {
    for (const o of objects) {
      for (const c of o.spec?.template?.spec?.containers ?? []) {
        if (c.image.split(':')[0] === image.name) c.image = `${image.newName ?? image.name}:${image.newTag}`;
      }
    }
  }
  return objects;
}

const models = {
  'v1/ConfigMap': ['kubernetes-models/v1', 'ConfigMap'],
  'v1/Secret': ['kubernetes-models/v1', 'Secret'],
  'v1/Service': ['kubernetes-models/v1', 'Service'],
  'v1/Namespace': ['kubernetes-models/v1', 'Namespace'],
  'apps/v1/Deployment': ['kubernetes-models/apps/v1', 'Deployment'],
  'batch/v1/Job': ['kubernetes-models/batch/v1', 'Job'],
  'policy/v1/PodDisruptionBudget': ['kubernetes-models/policy/v1', 'PodDisruptionBudget'],
  'autoscaling/v2/HorizontalPodAutoscaler': ['kubernetes-models/autoscaling/v2', 'HorizontalPodAutoscaler'],
  'networking.k8s.io/v1/NetworkPolicy': ['kubernetes-models/networking.k8s.io/v1', 'NetworkPolicy'],
};

let count = 0;
for (const object of render(overlay)) {
  const key = `${object.apiVersion}/${object.kind}`;
  if (!models[key]) {
    console.error(`no schema known for ${key} (${object.metadata?.name})`);
    process.exit(1);
  }
  const [module, name] = models[key];
  const Model = (await import(module))[name];
  try {
    new Model(object).validate();
    count++;
  } catch (error) {
    console.error(`INVALID ${key} ${object.metadata?.name}: ${error.message}`);
    process.exit(1);
  }
}
console.log(`k8s manifests valid against the Kubernetes API schemas: ${count} objects`);
