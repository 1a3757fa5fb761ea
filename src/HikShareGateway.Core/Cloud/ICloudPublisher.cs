namespace HikShareGateway.Core.Cloud;

/// <summary>
/// Publishes to the cloud under <c>{p}/gateways/{gw}/{subTopic}</c> (contract §3), QoS 1.
/// Non-blocking: messages are queued (bounded) while the broker is away; the oldest non-retained are dropped first.
/// </summary>
public interface ICloudPublisher
{
    /// <param name="subTopic"><c>status</c>, <c>devices</c>, <c>alarms</c>, <c>audit</c>, <c>grants/resync</c>.</param>
    void Publish(string subTopic, ReadOnlyMemory<byte> payload, bool retain);
}

/// <summary>Used when no broker is configured and no embedded broker runs: messages go nowhere.</summary>
public sealed class NullCloudPublisher : ICloudPublisher
{
    public void Publish(string subTopic, ReadOnlyMemory<byte> payload, bool retain) { }
}
