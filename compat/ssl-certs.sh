#!/usr/bin/env bash
# Certificates for the ssl-mtls compat scenario, made with openssl as README's TLS section
# shows: a CA, the broker's key + chain for localhost/127.0.0.1 (broker-keystore.pem) and a
# client certificate CN=compat,O=Gregor (client.crt, client.key). Usage: ssl-certs.sh DIR
set -euo pipefail
mkdir -p "$1" && cd "$1"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=compat-ca" -keyout ca.key -out ca.pem
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout broker.key -out broker.csr
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >broker.ext
openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile broker.ext -out broker.crt
cat broker.key broker.crt >broker-keystore.pem
openssl req -newkey rsa:2048 -nodes -subj "/O=Gregor/CN=compat" -keyout client.key -out client.csr
printf 'extendedKeyUsage=clientAuth\n' >client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile client.ext -out client.crt
