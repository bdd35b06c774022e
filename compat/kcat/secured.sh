# kcat's secured scenarios (one listener each, see scripts/compat), sourced by run.sh: records
# produced and read back through a balanced consumer group over the listener, then a client
# with a wrong password (or, for mTLS, no certificate; for OAUTHBEARER, librdkafka's unsecured
# token without the scope the listener requires) must report the broker's refusal.
secured() { # scenario listener-variable refusal-pattern
    local name=$1 bs=${!2:-} pattern=$3 D=${COMPAT_SSL_DIR:-} t="kcat-$1-$TAG" ok bad got want
    wanted "$name" || return 0
    [ -n "$bs" ] || { skip "$name" "no listener given (\$$2): run through scripts/compat"; return; }
    case $name in
    ssl-mtls)
        bad=(-b "$bs" -X security.protocol=ssl -X ssl.ca.location="$D/ca.pem")
        ok=("${bad[@]}" -X ssl.certificate.location="$D/client.crt" -X ssl.key.location="$D/client.key") ;;
    *oauthbearer)
        bad=(-b "$bs" -X security.protocol=sasl_plaintext -X sasl.mechanisms=OAUTHBEARER
            -X enable.sasl.oauthbearer.unsecure.jwt=true)
        ok=("${bad[@]}" -X sasl.oauthbearer.config="principal=$COMPAT_SASL_USER scope=${COMPAT_OAUTH_SCOPE:-}")
        bad+=(-X sasl.oauthbearer.config="principal=$COMPAT_SASL_USER") ;;
    *)
        local proto=sasl_plaintext mech=PLAIN
        [[ $name == sasl-ssl-* ]] && proto=sasl_ssl
        [[ $name == *scram* ]] && mech=SCRAM-SHA-512
        ok=(-b "$bs" -X security.protocol=$proto -X sasl.mechanisms=$mech -X sasl.username="$COMPAT_SASL_USER")
        [ $proto = sasl_ssl ] && ok+=(-X ssl.ca.location="$D/ca.pem")
        bad=("${ok[@]}" -X sasl.password=wrong-password)
        ok+=(-X sasl.password="$COMPAT_SASL_PASSWORD") ;;
    esac
    want=$(seq 0 19 | sed "s/.*/k&:$name-&/" | sort | tr '\n' ' ')
    seq 0 19 | sed "s/.*/k&:$name-&/" | timeout 30 kcat "${ok[@]}" -P -t "$t" -K: 2>"$TMP/err"
    got=$(timeout 60 kcat "${ok[@]}" -G "$t" "$t" -X auto.offset.reset=earliest -c 20 -q -f '%k:%s\n' 2>>"$TMP/err" | sort | tr '\n' ' ')
    if [ "$got" != "$want" ]; then
        fail "$name" "the group read $(echo "$got" | wc -w) of 20 records; $(err)"
        return
    fi
    # Metadata over the listener advertises the listener's own address.
    if ! timeout 20 kcat "${ok[@]}" -L -J 2>>"$TMP/err" | grep -q "\"name\":\"$bs\""; then
        fail "$name" "metadata does not advertise $bs; $(err)"
        return
    fi
    timeout 30 kcat "${bad[@]}" -L -m 2 >"$TMP/refused" 2>&1
    if grep -qE "$pattern" "$TMP/refused"; then
        pass "$name" "20 records via a group; refused: $(grep -oE "$pattern" "$TMP/refused" | head -1 | sed "s/ *$//")"
    else
        fail "$name" "no refusal reported: $(head -c 200 "$TMP/refused" | tr '\n' ' ')"
    fi
}
secured sasl-ssl-scram-sha-512 COMPAT_SCRAM_BS "SASL authentication error: Authentication failed[^(]*"
secured ssl-mtls COMPAT_SSL_BS "certificate required"
secured sasl-plaintext-plain COMPAT_PLAIN_BS "SASL authentication error: Authentication failed[^(]*"
secured sasl-plaintext-oauthbearer COMPAT_OAUTH_BS "SASL authentication error: [^(]*insufficient_scope[^(]*"
