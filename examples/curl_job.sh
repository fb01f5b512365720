#!/bin/sh
# Stylize an image with curl: queue a job, follow its server-sent events, download the result.
#
#   examples/curl_job.sh IMAGE [STYLE] [OUT]
#
# STYLE is a style id from GET /v1/styles (default starry-night); OUT defaults to restyled.png.
# Environment: RESTYLE_URL (default http://127.0.0.1:8787), RESTYLE_TOKEN (bearer token, if the
# server needs one), RESTYLE_OPTIONS (JSON options, default a quick 256 px run).
set -eu

URL=${RESTYLE_URL:-http://127.0.0.1:8787}
IMAGE=${1:?usage: curl_job.sh IMAGE [STYLE] [OUT]}
STYLE=${2:-starry-night}
OUT=${3:-restyled.png}
OPTIONS=${RESTYLE_OPTIONS:-'{"iterations":20,"previewEvery":5,"maxSize":256}'}
AUTH=""
[ -n "${RESTYLE_TOKEN:-}" ] && AUTH="Authorization: Bearer $RESTYLE_TOKEN"

echo "POST $URL/v1/jobs"
created=$(curl -sS --fail-with-body ${AUTH:+-H "$AUTH"} \
  -F "content=@$IMAGE" -F "style=$STYLE" -F "options=$OPTIONS" "$URL/v1/jobs")
echo "$created"
id=$(printf '%s' "$created" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')

echo "GET $URL/v1/jobs/$id/events"
# The server closes the stream after the last event (done, error or cancelled).
curl -sSN --fail-with-body ${AUTH:+-H "$AUTH"} "$URL/v1/jobs/$id/events"

curl -sS --fail-with-body ${AUTH:+-H "$AUTH"} -o "$OUT" "$URL/v1/jobs/$id/images/latest"
echo "saved $OUT"
