// What each refusal means, by MQTT 5 reason code. The API counts refusals
// under "0xNN name" keys (3.x clients under the v5 code of the cause).

const meanings = {
  0x80: "Unspecified error: the broker refused without a more specific reason.",
  0x81: "Malformed packet: the client sent bytes that are not a valid MQTT packet; it was disconnected.",
  0x82: "Protocol error: the client broke a rule of the MQTT protocol; it was disconnected.",
  0x83: "Implementation specific error: the request is valid MQTT but this broker does not accept it.",
  0x84: "Unsupported protocol version: the client's MQTT version is not in the tenant's protocol_versions.",
  0x85: "Client identifier not valid: the client id was refused (empty without a clean start in 3.1.1, or too long).",
  0x86: "Bad user name or password: the credentials match no user of the tenant.",
  0x87: "Not authorized: the ACL denied a publish or a subscription, or the client may not connect (anonymous not allowed).",
  0x88: "Server unavailable: the tenant could not take the connection (e.g. the node is shutting down or starting).",
  0x89: "Server busy: the broker is overloaded and asked the client to retry later.",
  0x8a: "Banned: the client is not allowed to connect.",
  0x8c: "Bad authentication method: the client asked for an authentication method the broker does not offer.",
  0x8d: "Keep alive timeout: the client sent nothing for one and a half keep alive periods; it was disconnected.",
  0x8e: "Session taken over: another connection with the same client id replaced this one.",
  0x8f: "Topic filter invalid: a subscription's filter is not a valid MQTT topic filter.",
  0x90: "Topic name invalid: a PUBLISH named an invalid topic.",
  0x91: "Packet identifier in use: the client reused a packet id still in flight.",
  0x92: "Packet identifier not found: the client acknowledged a packet id the broker does not know.",
  0x93: "Receive maximum exceeded: the client sent more unacknowledged QoS 1/2 messages than the broker allows.",
  0x94: "Topic alias invalid: the client used a topic alias it never defined or beyond the maximum.",
  0x95: "Packet too large: a packet was larger than the tenant's max_packet_size; the client was disconnected.",
  0x96: "Message rate too high: a client published beyond max_client_messages_per_second or max_client_bytes_per_second.",
  0x97: "Quota exceeded: a tenant quota was reached (max_connections, subscriptions, retained messages, the message or byte rate, or the memory budget).",
  0x98: "Administrative action: an operator's change ended the connection (e.g. the user was removed).",
  0x99: "Payload format invalid: the payload does not match its declared format (UTF-8).",
  0x9a: "Retain not supported: the tenant has retain turned off.",
  0x9b: "QoS not supported: the message or subscription asked for a QoS above the tenant's max_qos.",
  0x9c: "Use another server: the client was told to connect elsewhere.",
  0x9d: "Server moved: the client was told to connect elsewhere for good.",
  0x9e: "Shared subscriptions not supported: the tenant has shared subscriptions turned off.",
  0x9f: "Connection rate exceeded: connection attempts beyond the tenant's max_connects_per_second.",
  0xa0: "Maximum connect time: the connection lasted as long as it may.",
  0xa1: "Subscription identifiers not supported.",
  0xa2: "Wildcard subscriptions not supported: the tenant has wildcard subscriptions turned off.",
};

// parseReason splits an API refusal key "0x87 not authorized" into its
// code, name and meaning.
export function parseReason(key) {
  const m = /^0x([0-9a-fA-F]{2})\s*(.*)$/.exec(key);
  if (!m) return { code: "", name: key, meaning: "" };
  const code = parseInt(m[1], 16);
  return { code: "0x" + m[1].toUpperCase(), name: m[2], meaning: meanings[code] || "" };
}
