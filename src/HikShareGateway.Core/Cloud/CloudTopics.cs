namespace HikShareGateway.Core.Cloud;

/// <summary>
/// The MQTT topic layout of contract §3 and §3.1, written once: <c>{prefix}/gateways/{gatewayId}/{subTopic}</c>.
/// Used by the gateway's MQTT client, by <c>hikshare-cloud</c> and by the demo's cloud, so that the three agree.
/// </summary>
public sealed record CloudTopics
{
    public const string DefaultPrefix = "hikshare/v1";

    // Sub-topics (the part after {p}/gateways/{gw}/), as ICloudPublisher.Publish takes them.
    /// <summary>cloud → gateway, retained: the signed snapshot.</summary>
    public const string GrantsSubTopic = "grants";
    /// <summary>cloud → gateway: a signed delta.</summary>
    public const string GrantsDeltaSubTopic = "grants/delta";
    /// <summary>gateway → cloud: <c>{"version": N}</c>, the version held.</summary>
    public const string GrantsResyncSubTopic = "grants/resync";
    /// <summary>gateway → cloud, retained (also the will).</summary>
    public const string StatusSubTopic = "status";
    /// <summary>gateway → cloud, retained: the device inventory (§6).</summary>
    public const string DevicesSubTopic = "devices";
    /// <summary>gateway → cloud: alarms (§7).</summary>
    public const string AlarmsSubTopic = "alarms";
    /// <summary>gateway → cloud: audit events (§8).</summary>
    public const string AuditSubTopic = "audit";
    /// <summary>
    /// gateway → cloud, retained: <c>{"salt":"…","hash":"…","expiresAt":"…"}</c>, the salted SHA-256 of the one-time
    /// binding code <c>hikshare-gateway bind-code</c> prints (not in contract v1.1; docs/contract.md, implementation notes).
    /// </summary>
    public const string BindingSubTopic = "binding";
    /// <summary>v1.1 §3.1, cloud → gateway: a viewer's WebRTC offer.</summary>
    public const string WebRtcOfferSubTopic = "webrtc/offer";
    /// <summary>v1.1 §3.1, gateway → cloud: the answer or a problem.</summary>
    public const string WebRtcAnswerSubTopic = "webrtc/answer";
    /// <summary>v1.1 §3.1, both directions: a WebRTC session ends.</summary>
    public const string WebRtcCloseSubTopic = "webrtc/close";

    public CloudTopics(string prefix, string gatewayId)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        ArgumentException.ThrowIfNullOrEmpty(gatewayId);
        Prefix = prefix;
        GatewayId = gatewayId;
        Base = $"{prefix}/gateways/{gatewayId}/";
        Grants = Base + GrantsSubTopic;
        GrantsDelta = Base + GrantsDeltaSubTopic;
        GrantsResync = Base + GrantsResyncSubTopic;
        Status = Base + StatusSubTopic;
        Devices = Base + DevicesSubTopic;
        Alarms = Base + AlarmsSubTopic;
        Audit = Base + AuditSubTopic;
        Binding = Base + BindingSubTopic;
        WebRtcOffer = Base + WebRtcOfferSubTopic;
        WebRtcAnswer = Base + WebRtcAnswerSubTopic;
        WebRtcClose = Base + WebRtcCloseSubTopic;
    }

    public string Prefix { get; }
    public string GatewayId { get; }
    /// <summary><c>{prefix}/gateways/{gatewayId}/</c>, with the trailing slash.</summary>
    public string Base { get; }

    public string Grants { get; }
    public string GrantsDelta { get; }
    public string GrantsResync { get; }
    public string Status { get; }
    public string Devices { get; }
    public string Alarms { get; }
    public string Audit { get; }
    public string Binding { get; }
    public string WebRtcOffer { get; }
    public string WebRtcAnswer { get; }
    public string WebRtcClose { get; }

    /// <summary>The full topic of a sub-topic (one of the <c>…SubTopic</c> constants).</summary>
    public string For(string subTopic) => subTopic switch
    {
        // The fixed ones without a concatenation per message.
        GrantsSubTopic => Grants,
        GrantsDeltaSubTopic => GrantsDelta,
        GrantsResyncSubTopic => GrantsResync,
        StatusSubTopic => Status,
        DevicesSubTopic => Devices,
        AlarmsSubTopic => Alarms,
        AuditSubTopic => Audit,
        BindingSubTopic => Binding,
        WebRtcOfferSubTopic => WebRtcOffer,
        WebRtcAnswerSubTopic => WebRtcAnswer,
        WebRtcCloseSubTopic => WebRtcClose,
        _ => Base + subTopic,
    };

    /// <summary>The grants topic a signed message goes to: the retained snapshot or a delta.</summary>
    public string GrantsFor(bool delta) => delta ? GrantsDelta : Grants;
}
