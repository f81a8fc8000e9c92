#!/usr/bin/env bash
# Deploy Dr.Gero to a Google Cloud project. Everything the code needs comes from environment
# variables set here; no code differs between production and the local stack.
#
#   PROJECT=my-project REGION=europe-west1 infra/deploy.sh
#
# Needs: gcloud (authenticated), yq (to read the YAML files). It is idempotent: existing
# resources are updated or left alone. Not exercised by the test suite (no cloud access there).
set -euo pipefail

: "${PROJECT:?set PROJECT}"
REGION=${REGION:-europe-west1}
BUCKET=${BUCKET:-${PROJECT}-drgero-datasets}
QUEUE=${QUEUE:-drgero}
TASKS_SA=${TASKS_SA:-drgero-tasks@${PROJECT}.iam.gserviceaccount.com}
PUBLIC_BASE_URL=${PUBLIC_BASE_URL:?set PUBLIC_BASE_URL (the load balancer URL)}
INTERNAL_BASE_URL=${INTERNAL_BASE_URL:-$PUBLIC_BASE_URL}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")

gcloud config set project "$PROJECT" >/dev/null
gcloud services enable cloudfunctions.googleapis.com run.googleapis.com firestore.googleapis.com \
  cloudtasks.googleapis.com cloudscheduler.googleapis.com secretmanager.googleapis.com

gcloud storage buckets describe "gs://$BUCKET" >/dev/null 2>&1 \
  || gcloud storage buckets create "gs://$BUCKET" --location="$REGION" --uniform-bucket-level-access
gcloud tasks queues describe "$QUEUE" --location="$REGION" >/dev/null 2>&1 \
  || gcloud tasks queues create "$QUEUE" --location="$REGION" \
       --max-attempts=20 --min-backoff=1s --max-backoff=300s
# The internal key and the key that encrypts stored provider credentials live in Secret
# Manager; create them once with:
#   openssl rand -hex 32 | gcloud secrets create drgero-internal-key --data-file=-
#   python3 -c 'import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())' \
#     | gcloud secrets create drgero-secrets-key --data-file=-

# Firestore indexes and TTL policies (firebase CLI reads the same file format).
if command -v firebase >/dev/null; then
  firebase deploy --only firestore:indexes --project "$PROJECT" --config "$here/firebase.json"
else
  echo "install the firebase CLI to deploy infra/firestore.indexes.json" >&2
fi

env_vars="DRGERO_PROJECT_ID=$PROJECT,DRGERO_BUCKET=$BUCKET"
env_vars+=",DRGERO_TASKS_QUEUE=projects/$PROJECT/locations/$REGION/queues/$QUEUE"
env_vars+=",DRGERO_INTERNAL_BASE_URL=$INTERNAL_BASE_URL,DRGERO_PUBLIC_BASE_URL=$PUBLIC_BASE_URL"
env_vars+=",DRGERO_TASKS_SERVICE_ACCOUNT=$TASKS_SA"

count=$(yq '.functions | length' "$here/functions.yaml")
for i in $(seq 0 $((count - 1))); do
  name=$(yq ".functions[$i].name" "$here/functions.yaml")
  public=$(yq ".functions[$i].public" "$here/functions.yaml")
  auth_flag=$([ "$public" = "true" ] && echo --allow-unauthenticated || echo --no-allow-unauthenticated)
  concurrency=$(yq ".functions[$i].concurrency // 1" "$here/functions.yaml")
  # gen2 serves with gunicorn: one worker, THREADS threads; as many as requests it may take.
  gcloud functions deploy "drgero-$name" --gen2 --region="$REGION" --runtime=python312 \
    --source="$repo" --entry-point="$name" --trigger-http "$auth_flag" \
    --memory="$(yq ".functions[$i].memory" "$here/functions.yaml")" \
    --cpu="$(yq ".functions[$i].cpu // 1" "$here/functions.yaml")" \
    --concurrency="$concurrency" \
    --timeout="$(yq ".functions[$i].timeout" "$here/functions.yaml")" \
    --set-env-vars="$env_vars,THREADS=$concurrency" \
    --set-secrets="DRGERO_INTERNAL_KEY=drgero-internal-key:latest,DRGERO_SECRETS_KEY=drgero-secrets-key:latest"
  if [ "$(yq ".functions[$i].cpu_always_allocated // false" "$here/functions.yaml")" = "true" ]; then
    # Work finished after the response (traces, spend) needs CPU between requests too.
    gcloud run services update "drgero-$name" --region="$REGION" --no-cpu-throttling
  fi
done

# Cloud Scheduler jobs from the same file the local scheduler loop reads.
jobs=$(yq '.jobs | length' "$here/scheduler.yaml")
for i in $(seq 0 $((jobs - 1))); do
  job=$(yq ".jobs[$i].name" "$here/scheduler.yaml")
  args=(--location="$REGION" --schedule="$(yq ".jobs[$i].schedule" "$here/scheduler.yaml")"
        --time-zone=UTC --uri="$INTERNAL_BASE_URL$(yq ".jobs[$i].path" "$here/scheduler.yaml")"
        --http-method="$(yq ".jobs[$i].method" "$here/scheduler.yaml")"
        --oidc-service-account-email="$TASKS_SA"
        --headers="X-DrGero-Internal-Key=$(gcloud secrets versions access latest --secret=drgero-internal-key)")
  gcloud scheduler jobs describe "$job" --location="$REGION" >/dev/null 2>&1 \
    && gcloud scheduler jobs update http "$job" "${args[@]}" \
    || gcloud scheduler jobs create http "$job" "${args[@]}"
done
echo "deployed; route the load balancer's URL map as infra/functions.yaml says"
