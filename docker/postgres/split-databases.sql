-- The split deployment (docker-compose.split.yml) keeps the two roles' data apart: the
-- authorization server in `mcp` (created by the image from POSTGRES_DB), the MCP resource server
-- in `mcp_resource`. Run once, when the database volume is first initialised.
CREATE DATABASE mcp_resource OWNER mcp;
