namespace HikShareGateway.Core.Cloud;

/// <summary>
/// A receiver of cloud → gateway messages other than grants (v1.1 §3.1: <c>webrtc/offer</c>, <c>webrtc/close</c>). The MQTT
/// link subscribes (QoS 1) to its <see cref="SubTopics"/> under <c>{p}/gateways/{gw}/</c> and hands each message over.
/// The cloud is never trusted for who a viewer is: a receiver authenticates what the message carries itself.
/// </summary>
public interface ICloudInbound
{
    /// <summary>Sub-topics such as <see cref="CloudTopics.WebRtcOfferSubTopic"/>.</summary>
    IReadOnlyList<string> SubTopics { get; }

    /// <summary>Called on the MQTT link's thread: must not block (queue the work). The payload is only valid during the call.</summary>
    void Receive(string subTopic, ReadOnlySpan<byte> payload);
}
