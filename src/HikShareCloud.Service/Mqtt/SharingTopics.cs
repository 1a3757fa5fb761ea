namespace HikShareCloud.Service.Mqtt;

/// <summary>
/// Every MQTT topic string of the sharing service (contract §3), in one place so that it can be
/// swapped for the Core topic builder. <c>binding</c> is this service's addition: the gateway's
/// retained <c>{"salt":"…","hash":"…"}</c> of its one-time binding code.
/// </summary>
internal sealed class SharingTopics(string prefix)
{
    public const string GrantsKind = "grants";
    public const string DeltaKind = "grants/delta";
    public const string ResyncKind = "grants/resync";
    public const string DevicesKind = "devices";
    public const string BindingKind = "binding";
    public const string AuditKind = "audit";

    private readonly string _gateways = prefix.TrimEnd('/') + "/gateways/";

    public string Grants(string gatewayId) => _gateways + gatewayId + "/" + GrantsKind;
    public string Delta(string gatewayId) => _gateways + gatewayId + "/" + DeltaKind;
    public string Resync(string gatewayId) => _gateways + gatewayId + "/" + ResyncKind;
    public string Devices(string gatewayId) => _gateways + gatewayId + "/" + DevicesKind;
    public string Binding(string gatewayId) => _gateways + gatewayId + "/" + BindingKind;

    /// <summary>What the service subscribes to: every gateway's resync, inventory, binding and audit.</summary>
    public IReadOnlyList<string> Subscriptions =>
        [_gateways + "+/" + ResyncKind, _gateways + "+/" + DevicesKind, _gateways + "+/" + BindingKind, _gateways + "+/" + AuditKind];

    /// <summary>Splits <c>{p}/gateways/{gw}/{kind}</c>; false for anything else.</summary>
    public bool TryParse(string topic, out string gatewayId, out string kind)
    {
        gatewayId = kind = "";
        if (!topic.StartsWith(_gateways, StringComparison.Ordinal))
        {
            return false;
        }
        var rest = topic.AsSpan(_gateways.Length);
        var slash = rest.IndexOf('/');
        if (slash <= 0 || slash == rest.Length - 1)
        {
            return false;
        }
        gatewayId = rest[..slash].ToString();
        kind = rest[(slash + 1)..].ToString();
        return true;
    }
}
