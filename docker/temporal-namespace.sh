#!/bin/sh
# Creates the mailer's Temporal namespace (when missing) and registers the
# custom search attributes its workflows upsert, in that order. Runs
#   - as the one-shot `temporal-setup` service of docker-compose.yml (image
#     temporalio/admin-tools), after the server is healthy, before any worker;
#   - in `npm run test:production` (dev/stack/temporal-prod-server.ts), with
#     the same arguments and variables and the project's `temporal` CLI:
#
#   temporal-namespace.sh Name=Type [Name=Type …]
#
# The Name=Type pairs come from the service's `command:`; they must be exactly
# SEARCH_ATTRIBUTES of src/search-attributes.ts (test/compose.test.ts checks it).
#
# Safe to run again: an existing namespace is kept, and an attribute that is
# already registered with the same type counts as done. One registered with
# ANOTHER type is an error (the workflows would fail to upsert it), and so is
# Temporal still not answering after SETUP_MAX_ATTEMPTS tries.
set -u

: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is not set (e.g. temporal:7233)}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
MAX_ATTEMPTS="${SETUP_MAX_ATTEMPTS:-90}"
SLEEP_SECONDS="${SETUP_SLEEP_SECONDS:-2}"
RETENTION="${NAMESPACE_RETENTION:-72h}"
TEMPORAL="${TEMPORAL_CLI:-temporal}"

if [ "$#" -eq 0 ]; then
  echo "usage: $0 Name=Type [Name=Type …]" >&2
  exit 2
fi

attempt=1
until "$TEMPORAL" operator namespace describe --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" >/dev/null 2>&1; do
  if out=$("$TEMPORAL" operator namespace create --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" --retention "$RETENTION" 2>&1); then
    echo "created namespace $NAMESPACE (retention $RETENTION)"
    break
  fi
  if [ "$attempt" -ge "$MAX_ATTEMPTS" ]; then
    echo "could not create namespace $NAMESPACE at $TEMPORAL_ADDRESS after $attempt attempts: $out" >&2
    exit 1
  fi
  echo "waiting for Temporal at $TEMPORAL_ADDRESS to create namespace $NAMESPACE (attempt $attempt/$MAX_ATTEMPTS): $out"
  attempt=$((attempt + 1))
  sleep "$SLEEP_SECONDS"
done

for pair in "$@"; do
  name="${pair%%=*}"
  type="${pair#*=}"
  if [ -z "$name" ] || [ -z "$type" ] || [ "$name" = "$pair" ]; then
    echo "\"$pair\" is not Name=Type" >&2
    exit 2
  fi
  attempt=1
  while :; do
    if out=$("$TEMPORAL" operator search-attribute create \
      --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" \
      --name "$name" --type "$type" 2>&1); then
      echo "registered $name ($type) on namespace $NAMESPACE"
      break
    fi
    case "$out" in
      # The CLI compares with the existing attributes first: "search attribute X
      # already exists and has different type Y". Retrying cannot fix that.
      *"different type"*)
        echo "$name is already registered on namespace $NAMESPACE with another type than $type: $out" >&2
        exit 1
        ;;
      # The server's answer for an attribute that is already there (same type).
      *"already exists"* | *"already registered"*)
        echo "$name ($type) was already registered on namespace $NAMESPACE"
        break
        ;;
    esac
    if [ "$attempt" -ge "$MAX_ATTEMPTS" ]; then
      echo "could not register $name ($type) on namespace $NAMESPACE at $TEMPORAL_ADDRESS after $attempt attempts: $out" >&2
      exit 1
    fi
    echo "waiting for Temporal at $TEMPORAL_ADDRESS and namespace $NAMESPACE (attempt $attempt/$MAX_ATTEMPTS): $out"
    attempt=$((attempt + 1))
    sleep "$SLEEP_SECONDS"
  done
done
echo "search attributes ready on namespace $NAMESPACE"
