using HikShareGateway.Core.Cloud;

namespace HikShareCloud.Service.Mqtt;

/// <summary>
/// The sharing service's view of the topic layout: the per-gateway topics come from Core's <see cref="CloudTopics"/>
/// (the one builder every program uses); what only a cloud needs — wildcard subscriptions over all gateways and
/// splitting a topic back into gateway and sub-topic — is here. <c>binding</c> is this service's addition: the
/// gateway's retained <c>{"salt":"…","hash":"…"}</c> of its one-time binding code.
/// </summary>
internal sealed class SharingTopics(string prefix)
{
    public const string GrantsKind = CloudTopics.GrantsSubTopic;
    public const string DeltaKind = CloudTopics.GrantsDeltaSubTopic;
    public const string ResyncKind = CloudTopics.GrantsResyncSubTopic;
    public const string DevicesKind = CloudTopics.DevicesSubTopic;
    public const string BindingKind = CloudTopics.BindingSubTopic;
    public const string AuditKind = CloudTopics.AuditSubTopic;
    public const string WebRtcAnswerKind = CloudTopics.WebRtcAnswerSubTopic;

    private readonly string _prefix = prefix.TrimEnd('/');
    private readonly string _gateways = prefix.TrimEnd('/') + "/gateways/";

    public string Grants(string gatewayId) => new CloudTopics(_prefix, gatewayId).Grants;
    public string Delta(string gatewayId) => new CloudTopics(_prefix, gatewayId).GrantsDelta;
    public string Resync(string gatewayId) => new CloudTopics(_prefix, gatewayId).GrantsResync;
    public string Devices(string gatewayId) => new CloudTopics(_prefix, gatewayId).Devices;
    public string Binding(string gatewayId) => new CloudTopics(_prefix, gatewayId).Binding;

    /// <summary>What the service subscribes to: every gateway's resync, inventory, binding and audit.</summary>
    public IReadOnlyList<string> Subscriptions =>
        [_gateways + "+/" + ResyncKind, _gateways + "+/" + DevicesKind, _gateways + "+/" + BindingKind, _gateways + "+/" + AuditKind, _gateways + "+/" + WebRtcAnswerKind];

    /// <summary><c>{p}/gateways/{gw}/{subTopic}</c>.</summary>
    public string Of(string gatewayId, string subTopic) => _gateways + gatewayId + "/" + subTopic;

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
