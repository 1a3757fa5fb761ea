using System.Collections.Concurrent;
using System.Text;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Cloud;

namespace HikShareGateway.Tests.Onvif;

internal sealed class RecordingCloudPublisher : ICloudPublisher
{
    public ConcurrentQueue<(string Topic, string Payload, bool Retain)> Messages { get; } = new();

    public void Publish(string subTopic, ReadOnlyMemory<byte> payload, bool retain) =>
        Messages.Enqueue((subTopic, Encoding.UTF8.GetString(payload.Span), retain));

    public IReadOnlyList<(string Topic, string Payload, bool Retain)> On(string topic) => [.. Messages.Where(m => m.Topic == topic)];
}

/// <summary>An access policy with fixed alarm recipients per (device, channel).</summary>
internal sealed class FakeAccessPolicy : IAccessPolicy
{
    public Dictionary<(string, int), string[]> Recipients { get; } = [];
    public long Version => 1;
    public bool IsAllowed(string account, string deviceId, int channel, Privilege privilege) => false;
    public IReadOnlyList<DeviceAccess> GetVisibleDevices(string account) => [];
    public IReadOnlyList<string> GetAlarmRecipients(string deviceId, int channel) =>
        Recipients.TryGetValue((deviceId, channel), out var r) ? r : [];
    public event Action? Changed { add { } remove { } }
}
