namespace HikShareGateway.Core.Cloud;

/// <summary>
/// Whether the cloud link is up: connected to the broker and subscribed to the grants topics. Owned and
/// implemented by the cloud link (HikShareGateway.Cloud); read by health, metrics and <c>status</c>.
/// </summary>
public interface IBrokerStatus
{
    bool BrokerConnected { get; }
}

/// <summary>No cloud link in this run (no broker configured): never connected.</summary>
public sealed class NoBrokerStatus : IBrokerStatus
{
    public bool BrokerConnected => false;
}
